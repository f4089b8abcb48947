// chaperone/supervisor/far_setup.hpp: the first steps of a durable remote run (`--hold far`):
// make sure the far host has our chaperone (ship it over ssh if not) and start the run there.
#pragma once

#include "cmdbuild/command.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace chaperone {

struct FarSetup {
  bool ok = false;
  int exit_code = 0;     // when !ok: 255 ssh failed, 125 anything else
  std::string error;     // when !ok: one line
  std::string chaperone; // the far binary used
  std::string user;      // the far user (id -un there)
  bool shipped = false;  // we installed it into the far cache
};

// The two local binaries that get shipped: the front end (`ship_path`, given by whoever
// started the supervisor) and the supervisor itself (/proc/self/exe).
struct LocalBinaries {
  std::filesystem::path chaperone;
  std::filesystem::path supervisor;
  // Where their SHA-256 digests are kept between runs (empty: computed every time).
  std::filesystem::path hash_cache;
};

// Finds or installs the far chaperone. Refuses (ok=false, nothing installed) a far host of
// another architecture or kernel, a far home that is not writable, or a cache dir that others
// may write to.
FarSetup ensure_far_chaperone(const cmdbuild::Target& target,
                              const LocalBinaries& binaries,
                              const std::shared_ptr<spdlog::logger>& log);

// Runs `CHAPERONE run -d --name FAR_ID ARGS...` there. `retrying`: an earlier supervisor may
// have sent the same launch before it died, so "already exists" means it is ours.
FarSetup launch_far_run(const cmdbuild::Target& target,
                        FarSetup setup,
                        const std::string& far_id,
                        const std::vector<std::string>& run_args,
                        bool retrying,
                        const std::shared_ptr<spdlog::logger>& log);

} // namespace chaperone
