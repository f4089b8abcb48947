// spool/spool_root.hpp: where runs live, and the checks that make it safe to use.
#pragma once

#include <filesystem>

namespace chaperone::spool {

// The root per DESIGN.md: `chaperone_spool` if set and non-empty, else
// `xdg_state_home`/chaperone/spool, else `home`/.local/state/chaperone/spool. The caller
// passes the environment values (nullptr when unset), so the library reads no globals.
// Throws std::invalid_argument if none is usable (e.g. no HOME) or the result is relative.
std::filesystem::path
default_spool_root(const char* chaperone_spool, const char* xdg_state_home, const char* home);

class SpoolRoot {
public:
  // Opens an existing root, or creates it (and missing parents) with mode 0700 when
  // `create` is true. Refuses (std::runtime_error naming the path and the reason) a root
  // that is a symlink, not owned by the effective user, or writable by group or others:
  // another user could then plant or swap runs. A failed call, or a root that is not a
  // directory, throws std::system_error naming it.
  static SpoolRoot open(const std::filesystem::path& path, bool create);

  const std::filesystem::path& path() const { return m_path; }

private:
  explicit SpoolRoot(std::filesystem::path path) : m_path(std::move(path)) {}
  std::filesystem::path m_path;
};

} // namespace chaperone::spool
