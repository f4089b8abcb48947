# tests/shell/common.sh: shared by the shell-level tests (sourced). Each test gets a fresh
# spool under a private temp dir, removed on exit, and the built chaperone first in PATH.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# $1: directory of the built chaperone binary.
setup_spool() {
  export PATH="$1:$PATH"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  export CHAPERONE_SPOOL="$scratch/spool"
  unset XDG_STATE_HOME
}

# Starts a named run of `true` and waits for it to end.
make_run() {
  chaperone run -d --name "$1" -- true >/dev/null
  chaperone wait "$1"
}
