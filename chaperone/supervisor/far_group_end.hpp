// chaperone/supervisor/far_group_end.hpp: after the link of a plain remote run (`--hold link`)
// dropped, end the far process group it recorded, over new ssh connections, so no orphan
// is left there.
#pragma once

#include "cmdbuild/command.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace chaperone {

// Attempts to reach the far side; the first always runs, no further one starts once
// --kill-after has passed since the drop.
inline constexpr int k_far_group_end_attempts = 5;

struct FarGroupEnd {
  bool ended = false; // TERM (and KILL after the grace) got there, or the group was gone
  int attempts = 0;   // ssh connections tried for the TERM
  std::string result; // one line: what happened
  nlohmann::json to_json() const;
};

// Sends SIGTERM to the far group `pgid` (guarded by the run's nonce: only while the run's
// own wrapper leads it), retrying with backoff (1 s, doubling) while ssh cannot get
// through; once sent, waits `kill_after` and sends SIGKILL the same way. Blocking: used by
// the supervisor after the program's link is gone, before it writes the final state.
FarGroupEnd end_far_group(const cmdbuild::Target& target,
                          pid_t pgid,
                          const std::string& nonce,
                          std::chrono::milliseconds kill_after,
                          const std::shared_ptr<spdlog::logger>& log);

} // namespace chaperone
