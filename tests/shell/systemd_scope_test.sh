#!/usr/bin/env bash
# tests/shell/systemd_scope_test.sh BIN_DIR: where systemd is not PID 1 (this machine, most
# containers), `run --systemd-scope` is refused with 125, one line naming systemd, and
# nothing created; under --json as kind "no_systemd". On a systemd host this test cannot
# tell anything about the scope and says SKIP (exit 77); the composed systemd-run argv is
# checked by the unit test cmdbuild/systemd_scope_test.cpp.
source "$(dirname "$0")/common.sh"
setup_spool "$1"
if [[ -d /run/systemd/system ]]; then
  echo "SKIP: systemd is PID 1 here; the refusal cannot be tested (the scope is not tested)"
  exit 77
fi
set +e
err=$(chaperone run --systemd-scope -- true 2>&1 >/dev/null)
code=$?
set -e
((code == 125)) || fail "exit $code, want 125"
[[ $err == "chaperone: --systemd-scope: systemd is not running as PID 1"* ]] || fail "stderr: $err"
(($(wc -l <<<"$err") == 1)) || fail "more than one line: $err"
[[ ! -e $CHAPERONE_SPOOL ]] || fail "the refusal created $CHAPERONE_SPOOL"
set +e
err=$(chaperone run -d --json --systemd-scope -- true 2>&1 >/dev/null)
set -e
[[ $(jq -r .kind <<<"$err") == no_systemd ]] || fail "--json error: $err"
echo "systemd scope: refused without systemd, nothing created"
