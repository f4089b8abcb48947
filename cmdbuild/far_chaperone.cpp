// cmdbuild/far_chaperone.cpp: the far-side scripts of a durable remote run. Like the
// wrapper scripts they are fixed text: every run-specific byte arrives as an argv element.
#include "cmdbuild/far_chaperone.hpp"

#include <stdexcept>

namespace chaperone::cmdbuild {

// A directory counts as ours alone when we own it and neither group nor others may write
// it (find prints it only then). The home is taken from $HOME, which sshd and sudo's
// env_reset both set for the far user; getent is the fallback.
const std::string_view k_far_probe_sh = R"sh(want=$1 name=$2
echo "user $(id -un)"
home=${HOME:-}
[ -n "$home" ] || home=$(getent passwd "$(id -u)" | cut -d: -f6)
private() { [ -n "$(find "$1" -maxdepth 0 -user "$(id -u)" ! -perm /022 2>/dev/null)" ]; }
cache=$home/.cache/chaperone
dir=$cache/$name
if [ -e "$cache" ] && ! private "$cache"; then echo "refused $cache is not yours alone (owner or group/other write)"; exit 0; fi
if [ -e "$dir" ] && ! private "$dir"; then echo "refused $dir is not yours alone (owner or group/other write)"; exit 0; fi
if [ -x "$dir/chaperone" ] && [ -x "$dir/chaperone-supervisor" ] \
  && [ "$("$dir/chaperone" --version 2>/dev/null)" = "$want" ]; then
  echo "found $dir/chaperone"; exit 0
fi
if p=$(command -v chaperone 2>/dev/null) && [ "$("$p" --version 2>/dev/null)" = "$want" ]; then
  echo "found $p"; exit 0
fi
if ! [ -d "$home" ] || ! [ -w "$home" ]; then echo "refused home directory ${home:-(none)} is not writable"; exit 0; fi
echo "missing $(uname -m) $(uname -s) $(uname -r)")sh";

// head -c reads exactly N bytes from a pipe (GNU head never reads past the count), so the
// second file starts where the first ended. Concurrent first runs queue on a flock (when
// util-linux is there): the first ships, the others find the files in place and exit without
// reading their stdin, which ends the transfer early. They check the files in place by size
// only: a file gets its final name only after its SHA-256 was checked, in a dir that is ours
// alone, and the dir's name carries the hashes; hashing ~90 MB again in each of 1,000 queued
// first runs took minutes. The temp dir is mktemp's own (0700): a reader never sees a
// half-written binary under its final name.
const std::string_view k_far_install_sh = R"sh(name=$1
home=${HOME:-}
[ -n "$home" ] || home=$(getent passwd "$(id -u)" | cut -d: -f6)
private() { [ -n "$(find "$1" -maxdepth 0 -user "$(id -u)" ! -perm /022 2>/dev/null)" ]; }
umask 077
cache=$home/.cache/chaperone
dir=$cache/$name
mkdir -p "$cache" 2>/dev/null
mkdir "$dir" 2>/dev/null
for d in "$cache" "$dir"; do
  [ -d "$d" ] || { echo "error cannot create $d"; exit 1; }
  private "$d" || { echo "refused $d is not yours alone (owner or group/other write)"; exit 1; }
done
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$dir/.lock" && flock 9
  if [ -x "$dir/chaperone" ] && [ -x "$dir/chaperone-supervisor" ] \
    && [ "$(wc -c <"$dir/chaperone")" -eq "$2" ] \
    && [ "$(wc -c <"$dir/chaperone-supervisor")" -eq "$4" ]; then
    echo "installed $dir/chaperone"; exit 0
  fi
fi
tmp=$(mktemp -d "$dir/.tmp.XXXXXX") || { echo "error mktemp in $dir failed"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
head -c "$2" >"$tmp/chaperone" && head -c "$4" >"$tmp/chaperone-supervisor" \
  || { echo "error writing $tmp failed"; exit 1; }
check() {
  [ "$(wc -c <"$1")" -eq "$2" ] && [ "$(sha256sum <"$1" | cut -c1-64)" = "$3" ]
}
check "$tmp/chaperone" "$2" "$3" && check "$tmp/chaperone-supervisor" "$4" "$5" \
  || { echo "error the shipped binaries arrived damaged (size or sha256)"; exit 1; }
chmod 0755 "$tmp/chaperone" "$tmp/chaperone-supervisor"
mv -f "$tmp/chaperone-supervisor" "$dir/chaperone-supervisor" \
  && mv -f "$tmp/chaperone" "$dir/chaperone" || { echo "error rename into $dir failed"; exit 1; }
echo "installed $dir/chaperone")sh";

const std::string_view k_far_remove_sh =
    R"sh(root=${CHAPERONE_SPOOL:-${XDG_STATE_HOME:-$HOME/.local/state}/chaperone/spool}
d=$root/$1
[ -e "$d" ] || { echo gone; exit 0; }
grep -Eq '"state": *"(exited|signaled|timed_out|failed|lost|skipped)"' "$d/state.json" \
  || { echo "not final"; exit 3; }
rm -rf -- "$d" && echo removed)sh";

namespace {

std::string first_line(std::string_view output) {
  std::string_view line = output.substr(0, output.find('\n'));
  return std::string(line);
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < line.size()) {
    size_t end = line.find(' ', at);
    if (end == std::string::npos) {
      end = line.size();
    }
    if (end > at) {
      out.push_back(line.substr(at, end - at));
    }
    at = end + 1;
  }
  return out;
}

void check_cache_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '-';
  for (char c : name) {
    ok = ok
         && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
             || c == '-' || c == '_');
  }
  if (!ok) {
    throw std::invalid_argument("far cache name \"" + name
                                + "\": letters, digits, '.', '-', '_' only");
  }
}

} // namespace

FarProbe parse_far_probe(std::string_view output) {
  FarProbe probe;
  std::string line = first_line(output);
  auto split = words(line);
  if (split.size() >= 2 && split[0] == "found") {
    probe.kind = FarProbe::Kind::found;
    probe.path = line.substr(6);
  } else if (split.size() >= 3 && split[0] == "missing") {
    probe.kind = FarProbe::Kind::missing;
    probe.machine = split[1];
    probe.kernel = split[2];
    probe.release = split.size() >= 4 ? split[3] : std::string();
  } else if (!split.empty() && split[0] == "refused") {
    probe.kind = FarProbe::Kind::refused;
    probe.reason = line.size() > 8 ? line.substr(8) : std::string();
  } else {
    probe.reason = line;
  }
  return probe;
}

std::vector<std::string>
far_probe_command(const Target& target, const std::string& version, const std::string& name) {
  check_cache_name(name);
  return build_far_exec(target,
                        {"/bin/sh", "-c", std::string(k_far_probe_sh), "sh", version, name});
}

std::vector<std::string> far_install_command(const Target& target,
                                             const std::string& name,
                                             const ShippedFile& chaperone,
                                             const ShippedFile& supervisor) {
  check_cache_name(name);
  for (const ShippedFile* file : {&chaperone, &supervisor}) {
    bool hex = file->sha256.size() == 64;
    for (char c : file->sha256) {
      hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    if (!hex || file->size == 0) {
      throw std::invalid_argument("shipped file: size must be positive and sha256 64 hex digits");
    }
  }
  return build_far_exec(target,
                        {"/bin/sh",
                         "-c",
                         std::string(k_far_install_sh),
                         "sh",
                         name,
                         std::to_string(chaperone.size),
                         chaperone.sha256,
                         std::to_string(supervisor.size),
                         supervisor.sha256});
}

std::vector<std::string> far_remove_command(const Target& target, const std::string& far_id) {
  bool ok = !far_id.empty() && far_id.size() <= 128 && far_id[0] != '.' && far_id[0] != '-';
  for (char c : far_id) {
    ok = ok
         && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
             || c == '-' || c == '_' || c == '@' || c == '+');
  }
  if (!ok) {
    throw std::invalid_argument("far run id \"" + far_id + "\": not a run id");
  }
  return build_far_exec(target, {"/bin/sh", "-c", std::string(k_far_remove_sh), "sh", far_id});
}

std::vector<std::string> far_chaperone_command(const Target& target,
                                               const std::string& far_chaperone,
                                               const std::vector<std::string>& args) {
  if (far_chaperone.empty() || far_chaperone[0] != '/') {
    throw std::invalid_argument("far chaperone \"" + far_chaperone + "\": must be absolute");
  }
  std::vector<std::string> argv{far_chaperone};
  argv.insert(argv.end(), args.begin(), args.end());
  return build_far_exec(target, argv);
}

} // namespace chaperone::cmdbuild
