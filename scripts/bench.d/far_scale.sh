#!/usr/bin/env bash
# scripts/bench.d/far_scale.sh: bench section 9, issue 12 "Scale". One controller, HOSTS sshd
# processes on 127.0.1.1..127.0.1.HOSTS (scripts/test-sshd: own host key, own client key),
# PER_HOST durable remote runs on each (`chaperone run -d --hold far`), every link cut for CUT
# seconds while the programs run; then: did every byte and exit code come home, and how fast.
# Side by side: plain `ssh host prog >file &` and Ansible's async mode (when installed).
#
#   far_scale.sh --bin DIR --out DIR [--hosts 100] [--per-host 10] [--seconds 90] [--cut 60]
#                [--cut-how drop|stop|both] [--tools chaperone,ssh,ansible] [--keep]
#
#   --seconds S  each program prints a line a second for S seconds (default 150: launching
#                1,000 takes ~2 minutes on a loaded 2-core machine, and every run should still
#                be running when the cut starts), then exits 1 + IDX % 250
#   --cut-how    drop: iptables DROP on lo for those addresses; stop: SIGSTOP every sshd of
#                those hosts (listener and sessions); both (default): both at once
#
# Needs root, sshd, iptables (for drop) and python3. Writes OUT/far_scale.json (the numbers)
# and OUT/far_scale.log. Runs as login user chapscale (created once and kept, like
# test-sshd's users) so that its far spool holds only these runs; that spool and its
# chaperone cache are removed at the start and the end. Everything it starts is ended by pid.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
readonly here repo
py() { python3 "$here/far_scale.py" "$@"; }

bin= out= hosts=100 per_host=10 seconds=150 cut=60 cut_how=both tools="chaperone ssh ansible"
keep=0
while (($#)); do
  case $1 in
    --bin) bin=$2; shift ;;
    --out) out=$2; shift ;;
    --hosts) hosts=$2; shift ;;
    --per-host) per_host=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --cut) cut=$2; shift ;;
    --cut-how) cut_how=$2; shift ;;
    --tools) tools=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "far_scale: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
tools=" ${tools//,/ } "
[[ -n $bin && -n $out ]] || { echo "far_scale: --bin and --out are required" >&2; exit 2; }
((hosts >= 1 && hosts <= 254)) || { echo "far_scale: --hosts must be 1..254" >&2; exit 2; }
case $cut_how in drop | stop | both) ;; *) echo "far_scale: --cut-how drop|stop|both" >&2; exit 2 ;; esac
readonly chap=$bin/chaperone login=chapscale
runs=$((hosts * per_host))
readonly runs
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
readonly log=$out/far_scale.log result=$out/far_scale.json
: >"$log"
say() { printf 'far_scale: %s\n' "$*" | tee -a "$log" >&2; }
die() {
  say "$*"
  exit 1
}
[[ $(id -u) == 0 ]] || die "needs root (sshd users, iptables)"
[[ -x $chap && -x $bin/chaperone-supervisor ]] || die "no chaperone binaries in $bin"
command -v python3 >/dev/null || die "needs python3"
if [[ $cut_how != stop ]] && ! iptables -w -L INPUT -n >/dev/null 2>&1; then
  die "iptables does not work here: use --cut-how stop"
fi

# Not under a 0700 dir: sshd reads authorized_keys as the login user.
base=$(mktemp -d /tmp/chaperone-farscale.XXXXXX)
chmod 0755 "$base"
readonly base work=$base/work
mkdir -m 0700 "$work"
home=
fw_tag="chaperone-farscale-$$"
fw_on=0
stopped=()
plain_pids=()
masters=()

ip_of() { echo "127.0.1.$1"; }
fw() { # fw -I|-D: the DROP rules for our addresses, both directions
  local range="127.0.1.1-127.0.1.$hosts"
  iptables -w "$1" INPUT -i lo -m iprange --dst-range "$range" -m comment --comment "$fw_tag" -j DROP
  iptables -w "$1" INPUT -i lo -m iprange --src-range "$range" -m comment --comment "$fw_tag" -j DROP
}
link_cut() {
  if [[ $cut_how != stop ]]; then
    fw -I
    fw_on=1
  fi
  if [[ $cut_how != drop ]]; then
    local listeners=() h
    for ((h = 1; h <= hosts; h++)); do listeners+=("$(cat "$base/h$h/sshd.pid.own")"); done
    read -ra stopped <<<"$(py sshd-tree "${listeners[@]}")"
    kill -STOP "${stopped[@]}"
  fi
}
link_restore() {
  if ((${#stopped[@]})); then
    kill -CONT "${stopped[@]}" 2>/dev/null || true
    stopped=()
  fi
  if ((fw_on)); then
    fw -D
    fw_on=0
  fi
}

# Ends what we started, by pid.
cleanup() {
  local rc=$? pid pg d
  set +e
  link_restore
  # Local supervisors first, with SIGKILL (SIGTERM would queue a far kill and reconnect),
  # then the sshds (no new sessions), then what is left: ssh clients and masters (their
  # ControlPath is under $base), whatever runs as our own login user.
  for pid in $(jq -r 'select(.state == "running" or .state == "starting") | .supervisor_pid // empty' \
    "$work"/spool*/*/state.json 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${plain_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for d in "$base"/h*; do
    [[ -f $d/env ]] && "$repo/scripts/test-sshd" stop "$d" >/dev/null 2>&1
  done
  for pid in $(pgrep -u 0 -x ssh || true); do
    grep -qa "$base/" "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null
  done
  # The login user is this bench's own: whatever still runs as it was started here (far
  # supervisors and programs, plain ssh programs the cut did not end, Ansible's wrappers).
  if [[ -n $home ]]; then
    for pid in $(pgrep -u "$login" || true); do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$home/.local/state/chaperone/spool" "$home/.cache/chaperone" "$home/.ansible_async"
  fi
  ((keep)) || rm -rf "$base"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- hosts -------------------------------------------------------------------------------------
if ! id -u "$login" >/dev/null 2>&1; then
  useradd -m -s /bin/sh "$login" 2>/dev/null || id -u "$login" >/dev/null
fi
usermod -p '*' "$login"
home=$(getent passwd "$login" | cut -d: -f6)
rm -rf "$home/.local/state/chaperone/spool" "$home/.cache/chaperone" "$home/.ansible_async"

t0=$(date +%s.%N)
start_host() {
  TEST_SSHD_ADDRESS=$(ip_of "$1") "$repo/scripts/test-sshd" start "$base/h$1" >"$base/h$1.log" 2>&1 \
    || { say "host $1: $(tail -n 1 "$base/h$1.log")"; return 1; }
}
for ((h = 1; h <= hosts; h += 10)); do
  pids=()
  for ((i = h; i < h + 10 && i <= hosts; i++)); do
    start_host "$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || die "an sshd did not start"; done
done
declare -A port key
for ((h = 1; h <= hosts; h++)); do
  port[$h]=$(sed -n 's/^TEST_SSHD_PORT=//p' "$base/h$h/env")
  key[$h]=$(sed -n 's/^TEST_SSHD_KEY=//p' "$base/h$h/env")
done
say "$hosts sshds up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"

prog=$(py program)
ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Controller-side processes: the local supervisors, their ssh clients, the ssh masters.
ssh_pids_for() { # ssh processes (root, exe ssh) talking to our addresses
  local pid
  for pid in $(pgrep -u 0 -x ssh || true); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q " 127\.0\.1\.[0-9]* " && echo "$pid"
  done
}

# Runs PHASE: cut every link for $cut s, restore, print the milestones.
cut_and_time() {
  local t_cut
  t_cut=$(now)
  link_cut
  say "links cut ($cut_how) at load $(load)"
  sleep "$cut" # the experiment's own duration, not a synchronisation
  link_restore
  echo "$(now)"
  say "links restored after $(since "$t_cut") s"
}

json_parts=()

# ---- chaperone run -d --hold far --------------------------------------------------------------
if [[ $tools == *" chaperone "* ]]; then
  export CHAPERONE_SPOOL=$work/spool
  mkdir -p "$CHAPERONE_SPOOL"
  say "chaperone: launching $runs runs ($per_host on each of $hosts hosts), load $(load)"
  : >"$work/chap.ids"
  t_launch=$(now)
  for ((k = 0; k < per_host; k++)); do
    for ((h = 1; h <= hosts; h++)); do
      idx=$((k * hosts + h))
      id=$("$chap" run -d --hold far --host "$(ip_of "$h")" --port "${port[$h]}" --login "$login" \
        -i "${key[$h]}" "${ssh_opts[@]}" -- perl -e "$prog" "$idx" "$seconds" \
        "$((1 + idx % 250))") || die "chaperone run -d failed for run $idx"
      echo "$idx $id" >>"$work/chap.ids"
    done
  done
  returned_s=$(since "$t_launch")
  say "chaperone: $runs run -d returned in $returned_s s; waiting for every first byte"
  first_byte_s=$(py wait-output "$CHAPERONE_SPOOL" -n "$runs" -t 900) || die "runs did not start"
  first_byte_s=$(awk -v a="$t_launch" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
  say "chaperone: all $runs have output after $first_byte_s s, load $(load)"

  sups=$(jq -r '.supervisor_pid' "$CHAPERONE_SPOOL"/*/state.json | paste -sd,)
  mapfile -t sshs < <(ssh_pids_for)
  clients=() masters=()
  for pid in "${sshs[@]}"; do
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    if [[ ",$sups," == *",$ppid,"* ]]; then clients+=("$pid"); else masters+=("$pid"); fi
  done
  mem=$(py pss "supervisors=$sups" "ssh_clients=$(
    IFS=,
    echo "${clients[*]}"
  )" "ssh_masters=$(
    IFS=,
    echo "${masters[*]}"
  )")
  say "chaperone: PSS $mem"

  ended_before_cut=$(jq -s '[.[] | select(.state != "running")] | length' "$CHAPERONE_SPOOL"/*/state.json)
  t_restore=$(cut_and_time)
  final=$(py wait-final "$CHAPERONE_SPOOL" -n "$runs" -t $((seconds + cut + 600)) --since "$t_restore") \
    || say "chaperone: not all runs final: $final"
  say "chaperone: $final, load $(load)"
  declare -A far_of
  while IFS=$'\t' read -r id far_id; do
    far_of[$id]=$far_id
  done < <(jq -r '[(input_filename | split("/") | .[-2]), .far.run_id] | @tsv' \
    "$CHAPERONE_SPOOL"/*/state.json)
  while read -r idx id; do
    echo "$idx $CHAPERONE_SPOOL/$id/stdout $CHAPERONE_SPOOL/$id/stderr $CHAPERONE_SPOOL/$id/state.json $home/.local/state/chaperone/spool/${far_of[$id]}"
  done <"$work/chap.ids" >"$work/chap.verify"
  verdict=$(py verify --list "$work/chap.verify" --lines "$seconds")
  say "chaperone: $verdict"
  drops=$(jq -s '[.[] | .link.drops // 0] | {min: min, max: max, total: add}' "$CHAPERONE_SPOOL"/*/state.json)
  # The masters stay for their ControlPersist time after the last run: end them now.
  mapfile -t masters < <(ssh_pids_for)
  ((${#masters[@]} == 0)) || kill "${masters[@]}" 2>/dev/null || true
  json_parts+=("$(jq -n --argjson runs "$runs" --arg ret "$returned_s" --arg fb "$first_byte_s" \
    --argjson mem "$mem" --argjson final "$final" --argjson verdict "$verdict" --argjson drops "$drops" \
    --argjson ended "$ended_before_cut" \
    '{chaperone: {runs: $runs, launch_returned_s: ($ret | tonumber), launch_first_byte_s: ($fb | tonumber),
      memory: $mem, pss_kib_per_run: (([$mem[] | .pss_kib] | add) / $mem.supervisors.pids),
      runs_ended_before_cut: $ended,
      reconcile: $final, check: $verdict, link_drops: $drops}}')")
  unset CHAPERONE_SPOOL
fi

# ---- plain ssh host prog >file & ----------------------------------------------------------------
if [[ $tools == *" ssh "* ]]; then
  mkdir -p "$work/plain"
  say "ssh: launching $runs plain ssh runs, load $(load)"
  declare -A plain_idx
  t_launch=$(now)
  for ((k = 0; k < per_host; k++)); do
    for ((h = 1; h <= hosts; h++)); do
      idx=$((k * hosts + h))
      # The same keepalive as chaperone's defaults, so a dead link is noticed.
      ssh -p "${port[$h]}" -i "${key[$h]}" "${ssh_opts[@]}" -o BatchMode=yes -o LogLevel=ERROR \
        -o ServerAliveInterval=5 -o ServerAliveCountMax=3 "$login@$(ip_of "$h")" \
        "perl -e '$prog' $idx $seconds $((1 + idx % 250))" \
        </dev/null >"$work/plain/$idx.out" 2>"$work/plain/$idx.err" &
      plain_pids+=($!)
      plain_idx[$!]=$idx
    done
  done
  returned_s=$(since "$t_launch")
  first_byte_s=$(py wait-output "$work/plain" -n "$runs" -t 900) || say "ssh: not all started"
  first_byte_s=$(awk -v a="$t_launch" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
  say "ssh: all $runs have output after $first_byte_s s, load $(load)"
  mem=$(py pss "ssh_clients=$(
    IFS=,
    echo "${plain_pids[*]}"
  )")
  say "ssh: PSS $mem"
  t_restore=$(cut_and_time)
  : >"$work/plain.verify"
  for pid in "${plain_pids[@]}"; do
    code=0
    wait "$pid" || code=$?
    idx=${plain_idx[$pid]}
    echo "$idx $work/plain/$idx.out $work/plain/$idx.err $code" >>"$work/plain.verify"
  done
  plain_pids=()
  done_s=$(since "$t_restore")
  verdict=$(py verify --ssh-tail --list "$work/plain.verify" --lines "$seconds")
  say "ssh: all ended ${done_s} s after the restore; $verdict"
  json_parts+=("$(jq -n --argjson runs "$runs" --arg ret "$returned_s" --arg fb "$first_byte_s" \
    --argjson mem "$mem" --arg done "$done_s" --argjson verdict "$verdict" \
    '{ssh: {runs: $runs, launch_returned_s: ($ret | tonumber), launch_first_byte_s: ($fb | tonumber),
      memory: $mem, pss_kib_per_run: (([$mem[] | .pss_kib] | add) / $mem.ssh_clients.pids),
      all_ended_after_restore_s: ($done | tonumber), check: $verdict}}')")
fi

# ---- Ansible async -------------------------------------------------------------------------------
if [[ $tools == *" ansible "* ]]; then
  if ! command -v ansible >/dev/null; then
    say "ansible: not installed (apt-get install ansible); not measured"
    json_parts+=('{"ansible": {"skipped": "ansible not installed (Debian package ansible)"}}')
  else
    . "$here/far_scale_ansible.sh"
  fi
fi

jq -s --arg hosts "$hosts" --arg per "$per_host" --arg s "$seconds" --arg cut "$cut" \
  --arg how "$cut_how" --arg load "$(load)" --arg date "$(date -u +%FT%TZ)" \
  'add + {meta: {hosts: ($hosts | tonumber), per_host: ($per | tonumber), seconds: ($s | tonumber),
    cut_s: ($cut | tonumber), cut_how: $how, loadavg_at_end: $load, date: $date}}' \
  <(printf '%s\n' "${json_parts[@]}") >"$result"
cat "$result"
