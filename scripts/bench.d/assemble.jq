# scripts/bench.d/assemble.jq: raw rows (one JSON object a line, slurped) + $meta -> results.json.
# Adds per-row statistics, the ratio to the floor of the row's group, and the issue-6 verdicts.

def stats:
  (map(select(. != null)) | sort) as $s
  | ($s | length) as $n
  | if $n == 0 then {n: 0, median: null, p99: null, min: null, max: null}
    else {
      n: $n,
      median: (if $n % 2 == 1 then $s[($n - 1) / 2] else ($s[$n / 2 - 1] + $s[$n / 2]) / 2 end),
      p99: $s[([((0.99 * $n) | ceil) - 1, 0] | max)],
      min: $s[0],
      max: $s[$n - 1]
    } end;

def with_stats:
  . + (.samples | stats)
  | if (.n_override // null) != null then .n = .n_override else . end
  | if .unit == "MiB/s" then .p99 = null else . end;

def with_ratios:
  . as $rows
  | map(. as $r
      | ($rows | map(select(.group == $r.group and .floor == true and .median != null))
         | first) as $f
      | .ratio = (if $f == null or $r.median == null or $f.median == 0 then null
                  else $r.median / $f.median end));

# Rows of one id from several rounds (interleaved runs) become one: samples concatenated,
# notes kept once each (a failed round keeps its reason), the floor mark kept.
def merge_rounds:
  reduce .[] as $r ([];
    if any(.[]; .id == $r.id) then
      map(if .id != $r.id then .
          else .samples += $r.samples
            | .floor = (.floor or $r.floor)
            | (if $r.times_ms != null then .times_ms = ((.times_ms // []) + $r.times_ms) else . end)
            | .note = ([.note, $r.note] | map(select(. != null)) | unique | join("; ")
                       | if . == "" then null else . end)
          end)
    else . + [$r] end);

# ---- verdicts -------------------------------------------------------------------------------
def row($rows; $id): ($rows | map(select(.id == $id)) | first) // {};
def med($rows; $id): row($rows; $id).median;
def peers_min($rows; $group):
  $rows | map(select(.group == $group and (.tool | startswith("chaperone") | not)
                     and .floor != true and .median != null) | .median) | min;
def cmp($v; $op; $ref):
  if $v == null or $ref == null then null
  elif $op == "<=" then $v <= $ref
  elif $op == ">=" then $v >= $ref
  elif $op == "<" then $v < $ref
  else null end;

# [value, reference, how]: the interleaved rows ($ia, $ib) when both exist, else the
# hyperfine rows ($a, $b). Interleaved rows share their rounds, so their ratio is free of the
# VM's drift between rows measured minutes apart (scripts/bench interleaved()).
def both($rows; $a; $b; $ia; $ib):
  if med($rows; $ia) != null and med($rows; $ib) != null
  then [med($rows; $ia), med($rows; $ib), " (interleaved)"]
  else [med($rows; $a), med($rows; $b), ""] end;

def verdicts($rows):
  [
    (med($rows; "1.chaperone") as $v | peers_min($rows; "1") as $p
     | {target: "1. detached launch faster than every peer", value: $v, reference: $p,
        unit: "ms", met: cmp($v; "<="; $p)}),
    (both($rows; "1.chaperone"; "1.nq"; "1i.chaperone"; "1i.nq") as [$v, $p, $how]
     | {target: "1. detached launch <= nq\($how)", value: $v, reference: $p, unit: "ms",
        met: cmp($v; "<="; $p)}),
    (both($rows; "1.chaperone"; "1.floor"; "1i.chaperone"; "1i.floor") as [$v, $f, $how]
     | {target: "1. detached launch <= 1.2x the floor of its guarantees (probe launch-detached; issue 15)\($how)",
        value: $v, reference: (if $f == null then null else 1.2 * $f end), unit: "ms",
        met: cmp($v; "<="; (if $f == null then null else 1.2 * $f end))}),
    (med($rows; "2.chaperone") as $v | med($rows; "2.true") as $f
     | {target: "2. attached run -- true <= 2x bare true", value: $v,
        reference: (if $f == null then null else 2 * $f end), unit: "ms",
        met: cmp($v; "<="; (if $f == null then null else 2 * $f end))}),
    (med($rows; "2.chaperone") as $v
     | ([med($rows; "2.tsp"), med($rows; "2.dtach")] | map(select(. != null)) | min) as $p
     | {target: "2. attached run faster than tsp -f and dtach -N", value: $v, reference: $p,
        unit: "ms", met: cmp($v; "<"; $p)}),
    (med($rows; "2.chaperone") as $v | med($rows; "2.durable") as $f
     | {target: "2. attached run -- true <= 1.2x true + a durable status (issue 15 floor)",
        value: $v, reference: (if $f == null then null else 1.2 * $f end), unit: "ms",
        met: cmp($v; "<="; (if $f == null then null else 1.2 * $f end))}),
    (med($rows; "2.chaperone") as $v | med($rows; "2.durable-detached") as $f
     | {target: "2. attached run -- true <= 1.2x the same under a detached holder (floor of chaperone's shape)",
        value: $v, reference: (if $f == null then null else 1.2 * $f end), unit: "ms",
        met: cmp($v; "<="; (if $f == null then null else 1.2 * $f end))}),
    (both($rows; "2.chaperone"; "2.floor"; "2i.chaperone"; "2i.floor") as [$v, $f, $how]
     | {target: "2. attached run -- true <= 1.2x the floor of its guarantees (probe launch-attached; issue 15)\($how)",
        value: $v, reference: (if $f == null then null else 1.2 * $f end), unit: "ms",
        met: cmp($v; "<="; (if $f == null then null else 1.2 * $f end))}),
    (med($rows; "2.chaperone") as $v | med($rows; "2.tsp") as $p
     | {target: "2. attached run -- true <= tsp -f (issue 15)", value: $v, reference: $p,
        unit: "ms", met: cmp($v; "<="; $p)}),
    (row($rows; "3.block.captured.chaperone").ratio as $v
     | {target: "3. captured throughput >= 0.95x redirect (64 KiB writes)", value: $v,
        reference: 0.95, unit: "x", met: cmp($v; ">="; 0.95)}),
    (row($rows; "3.line.captured.chaperone").ratio as $v
     | {target: "3. captured throughput >= 0.95x redirect (128 B lines)", value: $v,
        reference: 0.95, unit: "x", met: cmp($v; ">="; 0.95)}),
    (row($rows; "3.block.pipe.chaperone").ratio as $v
     | {target: "3. attached streaming >= 0.9x prog | cat (64 KiB writes)", value: $v,
        reference: 0.9, unit: "x", met: cmp($v; ">="; 0.9)}),
    (row($rows; "3.line.pipe.chaperone").ratio as $v
     | {target: "3. attached streaming >= 0.9x prog | cat (128 B lines)", value: $v,
        reference: 0.9, unit: "x", met: cmp($v; ">="; 0.9)}),
    (["block", "line"][] as $m
     | med($rows; "3.\($m).pipe.chaperone") as $v | med($rows; "3.\($m).pipe.file") as $f
     | {target: "3. attached streaming >= 0.9x prog > file (\(if $m == "block" then "64 KiB writes" else "128 B lines" end); issue 15 floor: the spool file is on the path)",
        value: (if $v == null or $f == null or $f == 0 then null else $v / $f end),
        reference: 0.9, unit: "x",
        met: cmp((if $v == null or $f == null or $f == 0 then null else $v / $f end); ">="; 0.9)}),
    # Issue 15: where a pipe is out of reach with the spool file on the path, within 1.2x of
    # the same path run by the tools at hand (a file appended to, tail -f following it).
    (["block", "line"][] as $m
     | med($rows; "3.\($m).pipe.chaperone") as $v | med($rows; "3.\($m).pipe.tail") as $f
     | {target: "3. attached streaming >= 0.83x prog >> file & tail -f file | cat (\(if $m == "block" then "64 KiB writes" else "128 B lines" end); issue 15: within 1.2x of the file-and-follow floor)",
        value: (if $v == null or $f == null or $f == 0 then null else $v / $f end),
        reference: 0.83, unit: "x",
        met: cmp((if $v == null or $f == null or $f == 0 then null else $v / $f end); ">="; 0.83)}),
    (row($rows; "4.chaperone-attach") as $r
     | {target: "4. follow latency (attach) p50 <= 0.2 ms", value: $r.median, reference: 0.2,
        unit: "ms", met: cmp($r.median; "<="; 0.2)},
       {target: "4. follow latency (attach) p99 <= 2 ms", value: $r.p99, reference: 2,
        unit: "ms", met: cmp($r.p99; "<="; 2)}),
    (med($rows; "5.pss.chaperone") as $v
     | {target: "5. supervisor PSS <= 128 KiB per run", value: $v, reference: 128, unit: "KiB",
        met: cmp($v; "<="; 128)}),
    # Issue 15: 64 KiB, or within 1.2x of a static process that only waits.
    (med($rows; "5.pss.chaperone") as $v | med($rows; "5.pss.floor-static") as $f
     | {target: "5. supervisor PSS <= 64 KiB per run", value: $v, reference: 64, unit: "KiB",
        met: cmp($v; "<="; 64)},
       {target: "5. supervisor PSS <= 1.2x a static binary that only waits",
        value: (if $v == null or $f == null then null else $v / $f end), reference: 1.2,
        unit: "x", met: (if $v == null or $f == null then null else $v / $f <= 1.2 end)}),
    (med($rows; "6.ctx.chaperone-supervisor") as $v
     | {target: "6. idle supervisor: zero context switches", value: $v, reference: 0,
        unit: "switches", met: cmp($v; "<="; 0)}),
    (med($rows; "6.ctx.chaperone-attach") as $v
     | {target: "6. idle attach: zero context switches", value: $v, reference: 0,
        unit: "switches", met: cmp($v; "<="; 0)}),
    (med($rows; "7.10000.chaperone-ls") as $v
     | {target: "7. ls of 10,000 runs <= 50 ms", value: $v, reference: 50, unit: "ms",
        met: cmp($v; "<="; 50)}),
    # Issue 15: ls of 100,000 runs and status PREFIX there.
    (med($rows; "7.100000.chaperone-ls") as $v
     | {target: "7. ls of 100,000 runs <= 500 ms", value: $v, reference: 500, unit: "ms",
        met: cmp($v; "<="; 500)}),
    (med($rows; "7.100000.chaperone-status-prefix") as $v
     | {target: "7. status PREFIX at 100,000 runs <= 5 ms", value: $v, reference: 5, unit: "ms",
        met: cmp($v; "<="; 5)}),
    ($rows | map(select(.section == 7 and (.id | endswith(".chaperone-status")) and .median != null))
     | sort_by(.size) as $s
     | if ($s | length) < 2 then
         {target: "7. status ID independent of the number of runs", value: null,
          reference: null, unit: "x", met: null}
       else ($s[-1].median / $s[0].median) as $g
         | {target: "7. status ID independent of the number of runs (largest/smallest spool <= 1.5x)",
            value: $g, reference: 1.5, unit: "x", met: cmp($g; "<="; 1.5)}
       end),
    # Issue 15: a remote run over a warm ControlMaster within 2x of plain multiplexed ssh.
    (both($rows; "8.chaperone-cm"; "8.ssh-cm"; "8i.chaperone-cm"; "8i.ssh-cm") as [$v, $f, $how]
     | {target: "8. run --host --control-path <= 2x multiplexed ssh host true\($how)",
        value: (if $v == null or $f == null then null else $v / $f end), reference: 2,
        unit: "x", met: (if $v == null or $f == null then null else $v / $f <= 2 end)}),
    # Its floor: multiplexed ssh of perl forking true and reaping it (an exact far status)
    # plus the local attached run, less the one true the two count twice.
    ((if med($rows; "8i.chaperone-cm") != null then "8i." else "8." end) as $x
     | (if $x == "8i." then " (interleaved)" else "" end) as $how
     | med($rows; $x + "chaperone-cm") as $v
     | [med($rows; $x + "ssh-cm-wait"), med($rows; $x + "local-run"), med($rows; $x + "true")] as $p
     | (if any($p[]; . == null) then null else $p[0] + $p[1] - $p[2] end) as $f
     | {target: "8. run --host --control-path <= 1.2x its floor (ssh of perl fork/exec/wait + local run -- true - true)\($how)",
        value: (if $v == null or $f == null then null else $v / $f end), reference: 1.2,
        unit: "x", met: (if $v == null or $f == null then null else $v / $f <= 1.2 end)}),
    # Issue 15: a launch costs the same whatever the history in the spool.
    (["chaperone-run-d", "run -d -- true"], ["chaperone-run", "run -- true"]) as [$t, $what]
    | ($rows | map(select(.section == 7 and (.id | endswith("." + $t)) and .median != null))
       | sort_by(.size)) as $s
    | if ($s | length) < 2 then
        {target: "7. \($what) flat with history", value: null,
         reference: null, unit: "x", met: null}
      else ($s[-1].median / $s[0].median) as $g
        | {target: "7. \($what) with \($s[-1].size) runs in the spool <= 1.2x with \($s[0].size)",
           value: $g, reference: 1.2, unit: "x", met: cmp($g; "<="; 1.2)}
      end,
    # The same at the largest spool, interleaved with an empty spool (scale_launch).
    (["chaperone-run-d", "run -d -- true"], ["chaperone-run", "run -- true"]) as [$t, $what]
    | ($rows | map(select(.section == 7 and .median != null
                          and (.id | test("^7i\\.[0-9]+\\." + $t + "\\.full$"))))
       | sort_by(.id | split(".")[1] | tonumber)) as $f
    | if ($f | length) == 0 then
        {target: "7. \($what) flat with history (interleaved)", value: null,
         reference: null, unit: "x", met: null}
      else ($f[-1].id | split(".")[1]) as $n
        | med($rows; "7i.\($n).\($t).empty") as $e
        | (if $e == null or $e == 0 then null else $f[-1].median / $e end) as $g
        | {target: "7. \($what) with \($n) runs in the spool <= 1.2x an empty spool (interleaved)",
           value: $g, reference: 1.2, unit: "x", met: cmp($g; "<="; 1.2)}
      end
  ];

merge_rounds | map(with_stats) | with_ratios | . as $rows
| {meta: $meta, verdicts: verdicts($rows), rows: $rows}
