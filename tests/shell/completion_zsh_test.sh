#!/usr/bin/env bash
# tests/shell/completion_zsh_test.sh BIN_DIR SOURCE_DIR: the zsh completion is found by
# compinit and, in a real interactive zsh on a pseudo-terminal (zsh/zpty), a TAB after
# `chaperone status ` lists the spool's run ids. Every wait is for a pattern, bounded by
# `timeout`.
source "$(dirname "$0")/common.sh"
setup_spool "$1"
command -v zsh >/dev/null || fail "zsh not installed (run scripts/setup)"
make_run zsh-completed-run

cat >"$scratch/drive.zsh" <<'ZSH'
zmodload zsh/zpty || exit 2
zpty -b z zsh -f -i
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; print loaded-\${_comps[chaperone]}-end"
zpty -r z line '*loaded-_chaperone-end*' || exit 3
zpty -n -w z "$2"$'\t'
zpty -r z out "*$3*" || exit 4
zpty -d z
ZSH
timeout 30 zsh -f "$scratch/drive.zsh" "$2/completions" "chaperone status " zsh-completed-run \
  || fail "zsh did not offer the run id (exit $?)"
echo "zsh completion: ok"
