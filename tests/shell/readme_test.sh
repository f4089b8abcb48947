#!/usr/bin/env bash
# tests/shell/readme_test.sh BIN_DIR SOURCE_DIR: runs each example of README.md's "chaperone
# in 5 minutes" (the blocks marked <!-- readme-test: NAME -->) as its reader would, with the
# chaperone found in BIN_DIR (the build's, or /usr/bin for the installed package), and checks
# what the README says they do.
source "$(dirname "$0")/common.sh"
setup_spool "$1"
readme="$2/README.md"
cd "$scratch"

# The fenced block after the marker for $1.
example() {
  awk -v marker="<!-- readme-test: $1 -->" '
    $0 == marker { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$readme"
}
for name in cron make set-e python; do
  [[ -n $(example "$name") ]] || fail "README.md has no example marked readme-test: $name"
done

# cron: the command after the five time fields, with cron's \% unescaped, run by sh.
line=$(example cron)
command=$(cut -d' ' -f6- <<<"$line")
command=${command//\\%/%}
id=$(sh -c "$command") || fail "cron example exited $?"
[[ $id == sync-* ]] || fail "cron example printed '$id', not a sync-... run id"
chaperone wait "$id" || fail "cron example's run ended with $?"
[[ $(chaperone tail -n 1 "$id") == synced ]] || fail "cron example's output: $(chaperone tail "$id")"

# make: the recipe, as a Makefile.
mkdir make && example make >make/Makefile
make -s -C make >/dev/null || fail "make example exited $?"
grep -qx built make/report.txt || fail "make example's report.txt: $(cat make/report.txt)"

# set -e: the script as is.
example set-e >script.sh
out=$(bash script.sh) || fail "set -e example exited $?: $out"
grep -qx "step two" <<<"$out" || fail "set -e example did not show the last line: $out"
grep -qx "failed as expected" <<<"$out" || fail "set -e example: $out"

# Python: prints what its comments promise.
example python >example.py
out=$(python3 example.py) || fail "python example exited $?"
want=$'exit code 3\nexited hi\nno_such_run'
[[ $out == "$want" ]] || fail "python example printed '$out', want '$want'"
echo "README examples: ok (cron, make, set -e, python) with $(command -v chaperone)"
