# scripts/bench.d/far_scale_ansible.sh: the Ansible part of far_scale.sh (sourced by it, uses
# its hosts, ports, keys and helpers). The same program PER_HOST times on every host as async
# tasks (`async: 3600, poll: 0`), the same cut, then async_status until every job is finished.
# Ansible keeps nothing per job on the controller: its ssh masters (ControlPersist 60 s) are
# all that is measured. It returns output only once a job has finished, without the last
# newline (compared accordingly).
ans=$work/ansible
mkdir -p "$ans/out" "$ans/cp" "$ans/tmp"
export ANSIBLE_SSH_CONTROL_PATH_DIR=$ans/cp ANSIBLE_LOCAL_TEMP=$ans/tmp ANSIBLE_NOCOLOR=1 \
  ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_FORKS=20 \
  ANSIBLE_STDOUT_CALLBACK=json ANSIBLE_LOAD_CALLBACK_PLUGINS=1 \
  ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
{
  for ((h = 1; h <= hosts; h++)); do
    echo "h$h ansible_host=$(ip_of "$h") ansible_port=${port[$h]} ansible_user=$login ansible_ssh_private_key_file=${key[$h]} base=$h"
  done
  echo "[all:vars]"
  echo "ansible_python_interpreter=/usr/bin/python3"
} >"$ans/inventory"
jq -n --arg prog "$prog" --argjson hosts "$hosts" --argjson per "$per_host" --argjson s "$seconds" \
  '{prog: $prog, nhosts: $hosts, per_host: $per, seconds: $s}' >"$ans/vars.json"
cat >"$ans/launch.yml" <<'YAML'
- hosts: all
  gather_facts: false
  tasks:
    - shell: "perl -e {{ prog | quote }} {{ item * nhosts + base | int }} {{ seconds }} {{ 1 + (item * nhosts + base | int) % 250 }}"
      async: 3600
      poll: 0
      loop: "{{ range(0, per_host) | list }}"
YAML
cat >"$ans/status.yml" <<'YAML'
- hosts: all
  gather_facts: false
  tasks:
    - async_status:
        jid: "{{ item.jid }}"
      loop: "{{ jobs[inventory_hostname] }}"
      register: job
      until: job.finished
      retries: 900
      delay: 1
YAML
say "ansible: launching $runs async jobs, load $(load)"
t_launch=$(now)
ansible-playbook -i "$ans/inventory" -e "@$ans/vars.json" "$ans/launch.yml" >"$ans/launch.json" \
  2>"$ans/launch.err" || say "ansible: launch playbook failed: $(tail -n 1 "$ans/launch.err")"
launched_s=$(since "$t_launch")
jq '[.plays[0].tasks[0].hosts | to_entries[] | {key: .key, value: [.value.results[]
      | select(.ansible_job_id) | {jid: .ansible_job_id, item: .item}]}] | from_entries
    | {jobs: .}' "$ans/launch.json" >"$ans/jobs.json"
started=$(jq '[.jobs[] | length] | add // 0' "$ans/jobs.json")
say "ansible: $started of $runs jobs started in $launched_s s, load $(load)"
mapfile -t amasters < <(for pid in $(pgrep -u 0 -x ssh || true); do
  grep -qa "$ans/cp" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
done)
mem=$(py pss "ssh_masters=$(
  IFS=,
  echo "${amasters[*]}"
)")
say "ansible: PSS $mem (controller holds nothing else per job)"
t_restore=$(cut_and_time)
ansible-playbook -i "$ans/inventory" -e "@$ans/jobs.json" "$ans/status.yml" >"$ans/status.json" \
  2>"$ans/status.err" || say "ansible: status playbook exit $? (a job that exits non-zero is a failed task)"
done_s=$(since "$t_restore")
: >"$ans/verify"
while IFS=$'\t' read -r host item rc; do
  idx=$((item * hosts + ${host#h}))
  jq -j --arg h "$host" --argjson i "$item" \
    '.plays[0].tasks[0].hosts[$h].results[] | select(.item.item == $i) | .stdout // "" | if . == "" then . else . + "\n" end' \
    "$ans/status.json" >"$ans/out/$idx.out"
  jq -j --arg h "$host" --argjson i "$item" \
    '.plays[0].tasks[0].hosts[$h].results[] | select(.item.item == $i) | .stderr // "" | if . == "" then . else . + "\n" end' \
    "$ans/status.json" >"$ans/out/$idx.err"
  echo "$idx $ans/out/$idx.out $ans/out/$idx.err ${rc:-none}" >>"$ans/verify"
done < <(jq -r '.plays[0].tasks[0].hosts | to_entries[] | .key as $h | .value.results[]
                | [$h, .item.item, (.rc // "none")] | @tsv' "$ans/status.json" 2>/dev/null)
verdict=$(py verify --list "$ans/verify" --lines "$seconds")
verdict=$(jq -c --argjson runs "$runs" '. + {bytes_lost: (.bytes_lost + 0), runs_missing: ($runs - .runs)}' <<<"$verdict")
say "ansible: all finished jobs collected ${done_s} s after the restore; $verdict"
mapfile -t amasters < <(for pid in $(pgrep -u 0 -x ssh || true); do
  grep -qa "$ans/cp" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
done)
((${#amasters[@]} == 0)) || kill "${amasters[@]}" 2>/dev/null || true
json_parts+=("$(jq -n --argjson runs "$runs" --arg fb "$launched_s" --argjson mem "$mem" \
  --arg done "$done_s" --argjson verdict "$verdict" \
  '{ansible: {runs: $runs, launch_first_byte_s: ($fb | tonumber),
    launch_note: "playbook returned: every job started (Ansible returns no output before a job ends)",
    memory: $mem, pss_kib_per_run: (([$mem[] | .pss_kib] | add) / $runs),
    all_collected_after_restore_s: ($done | tonumber), check: $verdict}}')")
