#!/usr/bin/env bash
# tests/shell/man_page_test.sh BIN_DIR SOURCE_DIR RENDERED_PAGE: chaperone(1) documents every
# command and every option the binary accepts (asked of the binary, so an option added
# without documentation fails here), and man renders it without warnings.
source "$(dirname "$0")/common.sh"
setup_spool "$1"
page_source="$2/docs/chaperone.1.scd"
rendered=$3

# The text of one section: from its heading line to the next heading of any level.
section() {
  awk -v heading="$1" '
    /^#/ { inside = (index($0, heading) == 1) ; next }
    inside { print }' "$page_source"
}

global=$(section "# GLOBAL OPTIONS")
[[ -n $global ]] || fail "no GLOBAL OPTIONS section"
missing=()
documented() { # documented TEXT OPTION: OPTION appears bold in TEXT (scdoc *...*)
  grep -qF -- "*$2*" <<<"$1"
}
while IFS=$'\t' read -r option _; do
  documented "$global" "$option" || missing+=("chaperone $option")
done < <(chaperone __complete options)

commands=$(chaperone __complete commands | cut -f1)
[[ -n $commands ]] || fail "the binary listed no commands"
for command in $commands; do
  text=$(section "## chaperone $command ")
  if [[ -z $text ]]; then
    missing+=("section ## chaperone $command")
    continue
  fi
  while IFS=$'\t' read -r option _; do
    case $option in
      --help | -h | --spool) documented "$global" "$option" || missing+=("$command $option") ;;
      *) documented "$text" "$option" || missing+=("$command $option") ;;
    esac
  done < <(chaperone __complete options "$command")
done
((${#missing[@]} == 0)) || fail "not in $page_source: ${missing[*]}"

for word in CHAPERONE_SPOOL XDG_STATE_HOME HOME "EXIT STATUS" FILES EXAMPLES; do
  grep -qF -- "$word" "$page_source" || fail "the man page does not mention $word"
done
warnings=$(MANWIDTH=80 man --warnings -l "$rendered" 2>&1 >/dev/null)
[[ -z $warnings ]] || fail "man warns: $warnings"
echo "man page: every option of $(wc -w <<<"$commands") commands documented"
