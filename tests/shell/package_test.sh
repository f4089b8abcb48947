#!/usr/bin/env bash
# tests/shell/package_test.sh SOURCE_DIR BUILD_DIR: scripts/package builds the .deb, apt-get
# installs it into this machine, the installed /usr/bin/chaperone runs the README's examples,
# `man -w chaperone` finds the page, bash completes a run id through bash-completion's own
# loader, and `dpkg -r` takes every file away again. Needs root (exit 77: SKIP otherwise).
set -euo pipefail
src=$1
build=$2
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: the package test installs into the system and needs root"
  exit 77
fi
if dpkg-query -W -f='${Status}' chaperone 2>/dev/null | grep -q installed; then
  fail "a chaperone package is installed already; not touching it (dpkg -r chaperone first)"
fi
[[ ! -e /usr/bin/chaperone ]] || fail "/usr/bin/chaperone exists and is not from a package"

scratch=$(mktemp -d)
installed=0
cleanup() {
  if ((installed)); then
    dpkg -r chaperone >/dev/null 2>&1 || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

deb=$("$src/scripts/package" "$build" "$scratch" 2>"$scratch/package.log") \
  || fail "scripts/package: $(tail -5 "$scratch/package.log")"
arch=$(dpkg --print-architecture)
[[ $(basename "$deb") == chaperone_*_"$arch".deb ]] || fail "package named $(basename "$deb")"
# Depends: nothing for the static binaries; the callback sender's shared libraries (libcurl),
# each a package installed here, so that apt-get needs no network.
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *libcurl* ]] || fail "Depends lacks chaperone-callback's libcurl: '$depends'"
while read -r package; do
  dpkg-query -W -f='${Status}' "$package" | grep -q 'install ok installed' \
    || fail "Depends names $package, which is not installed"
done < <(tr ',' '\n' <<<"$depends" | awk '{print $1}')
mkdir "$scratch/unpacked"
dpkg-deb -x "$deb" "$scratch/unpacked"
for static in chaperone chaperone-supervisor chaperone-hold; do
  if objdump -p "$scratch/unpacked/usr/bin/$static" | grep -q NEEDED; then
    fail "$static in the package is not static"
  fi
done
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$scratch/entries"
grep -v '/$' "$scratch/entries" >"$scratch/files"
# Directories that are chaperone's own (not /usr/bin and the like) must go too.
grep '/$' "$scratch/entries" | grep chaperone >"$scratch/own_dirs"
for want in /usr/bin/chaperone /usr/bin/chaperone-supervisor /usr/bin/chaperone-hold \
  /usr/bin/chaperone-callback \
  /usr/share/man/man1/chaperone.1.gz \
  /usr/share/bash-completion/completions/chaperone /usr/share/zsh/vendor-completions/_chaperone \
  /usr/share/fish/vendor_completions.d/chaperone.fish; do
  grep -qx "$want" "$scratch/files" || fail "$want is not in the package"
done
grep -q '^/usr/lib/.*cmake/chaperone/chaperoneConfig.cmake$' "$scratch/files" \
  || fail "no CMake package files in the package"

installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" \
  >"$scratch/apt.log" 2>&1 || fail "apt-get install: $(tail -5 "$scratch/apt.log")"
[[ $(command -v chaperone) == /usr/bin/chaperone ]] || fail "chaperone is $(command -v chaperone)"

# The README's examples, with the installed binary only.
env -u CHAPERONE_SPOOL PATH=/usr/bin:/bin "$src/tests/shell/readme_test.sh" /usr/bin "$src" \
  || fail "README examples with the installed chaperone"
[[ $(man -w chaperone) == /usr/share/man/man1/chaperone.1.gz ]] || fail "man -w: $(man -w chaperone)"

# bash: the completion is loaded on demand by bash-completion, as in an interactive shell.
export CHAPERONE_SPOOL=$scratch/spool
chaperone run -d --name packaged-run -- true >/dev/null
chaperone wait packaged-run
got=$(bash -c '
  source /usr/share/bash-completion/bash_completion
  __load_completion chaperone || exit 3
  COMP_WORDS=(chaperone attach pack); COMP_CWORD=2; _chaperone
  printf "%s\n" "${COMPREPLY[@]}"') || fail "bash-completion did not load chaperone's completion"
[[ $got == packaged-run ]] || fail "bash completed 'chaperone attach pack' as '$got'"

dpkg -r chaperone >"$scratch/remove.log" 2>&1 || fail "dpkg -r: $(cat "$scratch/remove.log")"
installed=0
while read -r file; do
  [[ ! -e $file ]] || fail "$file is left behind after dpkg -r"
done <"$scratch/files"
while read -r dir; do
  [[ ! -e $dir ]] || fail "directory $dir is left behind after dpkg -r"
done <"$scratch/own_dirs"
if dpkg-query -W -f='${Status}' chaperone 2>/dev/null | grep -qv not-installed; then
  fail "dpkg still knows chaperone: $(dpkg-query -W -f='${Status}' chaperone)"
fi
echo "package: $(basename "$deb") built, installed, used and removed"
