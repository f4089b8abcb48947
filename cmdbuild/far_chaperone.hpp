// cmdbuild/far_chaperone.hpp: the far-side commands of a durable remote run (`--hold far`):
// find or install the far chaperone, start the run there, follow it, signal it, remove it.
// Pure: every function returns the local argv (ssh, through sudo as the mode says) that does
// one step; the caller runs it and reads its output. See cmdbuild/README.md "Far chaperone".
#pragma once

#include "cmdbuild/command.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::cmdbuild {

// The per-user cache on the far side: $HOME/.cache/chaperone/NAME/{chaperone,
// chaperone-supervisor}. NAME is the version and a hash prefix of both binaries.
inline constexpr std::string_view k_far_cache = ".cache/chaperone";

// POSIX sh, run as `sh -c SCRIPT sh VERSION NAME`. Prints `user NAME` (the far user), then
// one line:
//   found PATH              a chaperone whose `--version` prints VERSION (cache first, then
//                           PATH); PATH is the binary to run
//   missing MACHINE KERNEL RELEASE   none: `uname -m`, `uname -s`, `uname -r`
//   refused REASON          the cache dir is not ours alone, or the home is not writable
extern const std::string_view k_far_probe_sh;

// POSIX sh + GNU coreutils, run as `sh -c SCRIPT sh NAME SIZE1 SHA1 SIZE2 SHA2` with the two
// binaries (chaperone, chaperone-supervisor) back to back on stdin: writes them into a
// private temp dir inside the cache dir, checks sizes and SHA-256, chmods and renames them
// into place (the supervisor first, so a `chaperone` found there always has its
// supervisor). Concurrent installs of the same NAME each rename complete files over each
// other. Prints `installed PATH` or `refused REASON` / `error REASON` and exits non-zero.
extern const std::string_view k_far_install_sh;

// What the far side has: the result of the probe line.
struct FarProbe {
  enum class Kind { found, missing, refused, unknown } kind = Kind::unknown;
  std::string path;    // found
  std::string machine; // missing: uname -m
  std::string kernel;  // missing: uname -s
  std::string release; // missing: uname -r
  std::string reason;  // refused / unknown: the line
};
FarProbe parse_far_probe(std::string_view output);

std::vector<std::string>
far_probe_command(const Target& target, const std::string& version, const std::string& name);

struct ShippedFile {
  std::uint64_t size = 0;
  std::string sha256; // 64 lowercase hex digits
};
// stdin must carry the chaperone binary, then the supervisor binary.
std::vector<std::string> far_install_command(const Target& target,
                                             const std::string& name,
                                             const ShippedFile& chaperone,
                                             const ShippedFile& supervisor);

// POSIX sh, run as `sh -c SCRIPT sh FAR_ID`: removes the run dir FAR_ID from the far user's
// default spool ($CHAPERONE_SPOOL, else $XDG_STATE_HOME/chaperone/spool, else
// ~/.local/state/chaperone/spool) if its state.json is final. Prints `removed` or `gone`
// (exit 0), or `not final` (exit 3).
extern const std::string_view k_far_remove_sh;
// Throws std::invalid_argument for a far id that is not a plain run id.
std::vector<std::string> far_remove_command(const Target& target, const std::string& far_id);

// `CHAPERONE ARGS...` on the far side, e.g. {"run", "-d", ...}, {"attach", "--json", ...}.
std::vector<std::string> far_chaperone_command(const Target& target,
                                               const std::string& far_chaperone,
                                               const std::vector<std::string>& args);

} // namespace chaperone::cmdbuild
