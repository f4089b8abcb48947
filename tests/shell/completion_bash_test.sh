#!/usr/bin/env bash
# tests/shell/completion_bash_test.sh BIN_DIR SOURCE_DIR: the bash completion, driven as
# bash drives it (COMP_WORDS/COMP_CWORD, then COMPREPLY), against the real binary and spool.
source "$(dirname "$0")/common.sh"
setup_spool "$1"
# shellcheck source=/dev/null
source "$2/completions/chaperone.bash"

make_run nightly-backup
make_run other-run
mkdir -p "$scratch/second"
CHAPERONE_SPOOL="$scratch/second" make_run in-second-spool

[[ $(complete -p chaperone) == "complete -F _chaperone chaperone" ]] || fail "complete -p: $(complete -p chaperone)"

# complete WORDS...: COMPREPLY for the last word, one per line, sorted.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _chaperone
  printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

expect() {
  local want=$1
  shift
  local got
  got=$(complete_words "$@" | tr '\n' ' ')
  [[ $got == "$want" ]] || fail "completing '$*': want '$want', got '$got'"
}

expect "nightly-backup " chaperone attach ni
expect "nightly-backup other-run " chaperone status ""
expect "nightly-backup other-run " chaperone wait nightly-backup ""
expect "in-second-spool " chaperone --spool "$scratch/second" status ""
expect "in-second-spool " chaperone kill --spool "$scratch/second" ""
expect "run " chaperone ru
expect "--name " chaperone run --na
expect "--spool " chaperone ls --sp
expect "TERM TRAP TSTP TTIN TTOU " chaperone kill -s T
expect "stderr stdout " chaperone tail --stream ""
# After `--` the words are the program's: no run ids, no chaperone options.
got=$(complete_words chaperone run -- --na | tr '\n' ' ')
[[ $got != *--name* ]] || fail "offered chaperone's options after --: $got"
echo "bash completion: ok"
