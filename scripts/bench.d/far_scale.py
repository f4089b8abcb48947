#!/usr/bin/env python3
"""scripts/bench.d/far_scale.py: the measuring half of far_scale.sh (bench section 9).

far_scale.py program                      print the far program (perl) both sides run
far_scale.py wait-output DIR... -n N -t S wait until N files named stdout/*.out under DIRs
                                          are non-empty; print seconds waited (or fail)
far_scale.py wait-final SPOOL -n N -t S --since EPOCH
                                          poll SPOOL/*/state.json until N runs are final;
                                          print JSON: when each milestone was reached
far_scale.py pss CATEGORY=PID,PID...      print JSON {category: {pids, pss_kib}}
far_scale.py sshd-tree PID...             print the pids of PID and its sshd descendants
far_scale.py verify ...                   compare outputs and exit codes (see below)
"""
import argparse
import hashlib
import json
import os
import sys
import time

# One line a second on stdout, one every 15 s on stderr, then a known exit code. FAST=1
# prints the same bytes at once (the expected output).
PROGRAM = (
    '$|=1; my ($id, $n, $code) = @ARGV; '
    'for my $i (1..$n) { printf "run %05d line %03d %s\\n", $id, $i, "x" x 40; '
    'printf STDERR "run %05d err %03d\\n", $id, $i if $i % 15 == 0; '
    'sleep 1 if $i < $n && !$ENV{FAST}; } exit $code;'
)


def expected(idx, lines):
    out = b"".join(b"run %05d line %03d %s\n" % (idx, i, b"x" * 40) for i in range(1, lines + 1))
    err = b"".join(b"run %05d err %03d\n" % (idx, i) for i in range(1, lines + 1) if i % 15 == 0)
    return out, err


def exit_code_of(idx):
    return 1 + idx % 250


def read_json(path):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


FINAL = {"exited", "signaled", "timed_out", "failed", "lost", "skipped"}


def cmd_wait_output(a):
    start = time.monotonic()
    deadline = start + a.timeout
    while True:
        n = 0
        for d in a.dirs:
            for entry in os.scandir(d):
                path = entry.path
                if entry.is_dir():
                    path = os.path.join(path, "stdout")
                elif not entry.name.endswith(".out"):
                    continue
                try:
                    n += os.stat(path).st_size > 0
                except OSError:
                    pass
        if n >= a.n:
            print("%.2f" % (time.monotonic() - start))
            return 0
        if time.monotonic() > deadline:
            print("only %d of %d have output after %d s" % (n, a.n, a.timeout), file=sys.stderr)
            return 1
        time.sleep(0.1)


def cmd_wait_final(a):
    """Milestones, seconds after --since: all final; all reconciled (final or link up)."""
    deadline = time.time() + a.timeout
    first_final = {}
    all_up = None
    down_max = 0
    while True:
        now = time.time()
        n_final = 0
        n_ok = 0
        n_down = 0
        for entry in os.scandir(a.spool):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            st = read_json(os.path.join(entry.path, "state.json"))
            if st is None:
                continue
            if st.get("state") in FINAL:
                n_final += 1
                n_ok += 1
                first_final.setdefault(entry.name, now)
            elif (st.get("link") or {}).get("state") == "up":
                n_ok += 1
            else:
                n_down += 1
        down_max = max(down_max, n_down)
        if all_up is None and n_ok >= a.n:
            all_up = now
        if n_final >= a.n:
            break
        if now > deadline:
            print("only %d of %d final after %d s" % (n_final, a.n, a.timeout), file=sys.stderr)
            break
        time.sleep(0.2)
    result = {
        "final": n_final,
        "all_final_s": round(max(first_final.values()) - a.since, 2) if first_final else None,
        "all_reconciled_s": round(all_up - a.since, 2) if all_up else None,
        "max_not_up": down_max,
    }
    json.dump(result, sys.stdout)
    print()
    return 0 if n_final >= a.n else 1


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmd_pss(a):
    out = {}
    for spec in a.groups:
        name, _, pids = spec.partition("=")
        values = [pss_kib(int(p)) for p in pids.split(",") if p]
        seen = [v for v in values if v is not None]
        out[name] = {"pids": len(seen), "pss_kib": sum(seen)}
    json.dump(out, sys.stdout)
    print()
    return 0


def children():
    kids = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry.name) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        kids.setdefault(int(rest[1]), []).append((int(entry.name), comm))
    return kids


def cmd_sshd_tree(a):
    kids = children()
    todo = [int(p) for p in a.pids]
    found = []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(k for k, comm in kids.get(pid, []) if comm == "sshd")
    print(" ".join(str(p) for p in found))
    return 0


def cmd_verify(a):
    """Each line of --list: IDX LOCAL_STDOUT LOCAL_STDERR LOCAL_CODE [FAR_DIR].

    LOCAL_CODE is a number, or a state.json path to read exit_code from. Prints JSON: runs,
    runs_exact, bytes_expected, bytes_lost (missing or wrong, counted from the first
    difference), codes_lost; with FAR_DIR also whether far and local differ."""
    runs = exact = bytes_expected = bytes_lost = codes_lost = far_diff = 0
    bad = []
    with open(a.list) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            idx = int(parts[0])
            runs += 1
            want_out, want_err = expected(idx, a.lines)
            ok = True
            for want, path in ((want_out, parts[1]), (want_err, parts[2])):
                bytes_expected += len(want)
                try:
                    with open(path, "rb") as g:
                        got = g.read()
                except OSError:
                    got = b""
                if got.startswith(want) and a.ssh_tail:
                    got = got[: len(want)]  # ssh's own complaint may follow on stderr
                if got != want:
                    ok = False
                    same = 0
                    for x, y in zip(got, want):
                        if x != y:
                            break
                        same += 1
                    bytes_lost += len(want) - same
            code = parts[3]
            if not code.lstrip("-").isdigit():
                st = read_json(code) or {}
                code = st.get("exit_code")
            if code is None or int(code) != exit_code_of(idx):
                ok = False
                codes_lost += 1
            if len(parts) > 4:
                far = parts[4]
                far_st = read_json(os.path.join(far, "state.json")) or {}
                for name, local in (("stdout", parts[1]), ("stderr", parts[2])):
                    if digest(os.path.join(far, name)) != digest(local):
                        far_diff += 1
                        ok = False
                if far_st.get("exit_code") != exit_code_of(idx):
                    far_diff += 1
                    ok = False
            exact += ok
            if not ok and len(bad) < 5:
                bad.append(idx)
    json.dump(
        {
            "runs": runs,
            "runs_exact": exact,
            "bytes_expected": bytes_expected,
            "bytes_lost": bytes_lost,
            "codes_lost": codes_lost,
            "far_local_differences": far_diff,
            "first_bad": bad,
        },
        sys.stdout,
    )
    print()
    return 0


def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("program")
    w = sub.add_parser("wait-output")
    w.add_argument("dirs", nargs="+")
    w.add_argument("-n", type=int, required=True)
    w.add_argument("-t", "--timeout", type=float, required=True)
    f = sub.add_parser("wait-final")
    f.add_argument("spool")
    f.add_argument("-n", type=int, required=True)
    f.add_argument("-t", "--timeout", type=float, required=True)
    f.add_argument("--since", type=float, required=True)
    s = sub.add_parser("pss")
    s.add_argument("groups", nargs="+")
    t = sub.add_parser("sshd-tree")
    t.add_argument("pids", nargs="+")
    v = sub.add_parser("verify")
    v.add_argument("--list", required=True)
    v.add_argument("--lines", type=int, required=True)
    v.add_argument("--ssh-tail", action="store_true")
    a = p.parse_args()
    if a.cmd == "program":
        print(PROGRAM)
        return 0
    return {
        "wait-output": cmd_wait_output,
        "wait-final": cmd_wait_final,
        "pss": cmd_pss,
        "sshd-tree": cmd_sshd_tree,
        "verify": cmd_verify,
    }[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
