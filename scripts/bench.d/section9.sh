# scripts/bench.d/section9.sh: bench section 9 (far scale, issue 12), sourced by scripts/bench.
# Runs far_scale.sh (100 sshds on 127.0.1.N, 1,000 `run -d --hold far`, every link cut for
# 60 s) and turns its far_scale.json into rows. Not part of --quick: it takes ~10 minutes.
section_far_scale() {
  local s=9 dir=$raw/far-scale json tool t
  if [[ $(id -u) != 0 || ! -x /usr/sbin/sshd ]]; then
    missing 9.pss.chaperone $s 9.pss "controller PSS per durable remote run" chaperone KiB \
      "needs root and openssh-server"
    return 0
  fi
  local extra=()
  # FAR_SCALE_ARGS: options for far_scale.sh, e.g. "--hosts 10 --tools chaperone,ssh".
  read -ra extra <<<"${FAR_SCALE_ARGS:-}"
  if ! "$here/far_scale.sh" --bin "$bin_dir" --out "$dir" "${extra[@]}" >"$raw/far-scale.log" 2>&1; then
    missing 9.pss.chaperone $s 9.pss "controller PSS per durable remote run" chaperone KiB \
      "far_scale.sh failed: $(tail -n 1 "$raw/far-scale.log")"
    return 0
  fi
  json=$dir/far_scale.json
  local runs how
  runs=$(jq -r '.chaperone.runs // .ssh.runs' "$json")
  how="$(jq -r '.meta | "\(.hosts) hosts, \(.cut_s) s cut (\(.cut_how))"' "$json")"
  for tool in chaperone ssh ansible; do
    jq -e --arg t "$tool" '.[$t].runs' "$json" >/dev/null 2>&1 || continue
    t=$tool
    [[ $tool == chaperone ]] && t="chaperone run -d --hold far"
    [[ $tool == ssh ]] && t="ssh host prog >file &"
    [[ $tool == ansible ]] && t="ansible -B -P 0 (async)"
    local floor=false
    [[ $tool == ssh ]] && floor=true
    add_row "9.pss.$tool" $s 9.pss "controller PSS per remote run, $runs runs" "$t" KiB "$floor" \
      "$how" "$(jq -c --arg t "$tool" '[.[$t].pss_kib_per_run]' "$json")"
    add_row "9.launch.$tool" $s 9.launch "launch $runs, until every first byte is home" "$t" s \
      "$floor" "" "$(jq -c --arg t "$tool" '[.[$t].launch_first_byte_s]' "$json")"
    add_row "9.lost.$tool" $s 9.lost "bytes lost over the cut, of $runs runs" "$t" bytes false \
      "$(jq -r --arg t "$tool" '.[$t].check | "\(.codes_lost) exit codes lost, \(.runs_exact) runs exact"' "$json")" \
      "$(jq -c --arg t "$tool" '[.[$t].check.bytes_lost]' "$json")"
  done
  if jq -e '.chaperone.reconcile.all_final_s' "$json" >/dev/null 2>&1; then
    add_row 9.reconcile.chaperone $s 9.reconcile "after the cut, until all $runs are final" \
      "chaperone run -d --hold far" s false "every run final, byte-exact with the far spool" \
      "$(jq -c '[.chaperone.reconcile.all_final_s]' "$json")"
  fi
}
