#!/usr/bin/env bash
# tests/shell/completion_fish_test.sh BIN_DIR SOURCE_DIR: the fish completion loads without
# error and offers commands, options, run ids and signal names (`complete -C` asks fish).
source "$(dirname "$0")/common.sh"
setup_spool "$1"
command -v fish >/dev/null || fail "fish not installed (run scripts/setup)"
make_run nightly-backup

fish_complete() {
  fish --no-config -c "source '$2/completions/chaperone.fish'; or exit 3; complete -C '$1'" \
    | cut -f1 | sort -u | tr '\n' ' '
}
src=$2
expect() {
  local got
  got=$(fish_complete "$2" "$src")
  [[ $got == "$1" ]] || fail "fish completing '$2': want '$1', got '$got'"
}
errors=$(fish --no-config -c "source '$src/completions/chaperone.fish'" 2>&1)
[[ -z $errors ]] || fail "loading the fish completion: $errors"
expect "nightly-backup " "chaperone attach "
expect "run " "chaperone ru"
expect "--name " "chaperone run --na"
expect "KILL " "chaperone kill -s KI"
echo "fish completion: ok"
