// chaperone/supervisor/mirror.hpp: the local supervisor of a durable remote run (`--hold
// far`). The program runs under a chaperone on the far host; this process follows that far
// run over ssh (`chaperone attach --json` there, from the sizes of the local files) and
// writes its bytes and its outcome into the local run dir, reconnecting with backoff
// whenever the link drops. Requests queued in the run dir's far-requests/ (kill, signals)
// are carried out there by `chaperone kill` once the link allows.
#pragma once

#include "chaperone/supervisor/supervisor.hpp"

#include <memory>

namespace chaperone {

// Files in the run dir that belong to the mirror.
inline constexpr const char* k_far_requests_dir = "far-requests";   // one file per request
inline constexpr const char* k_far_launch_args = "far-launch.args"; // NUL-separated, 0600

// Like supervise(): returns 0 once a final state is written.
int mirror_far_run(const SupervisorOptions& options, const std::shared_ptr<spdlog::logger>& logger);

} // namespace chaperone
