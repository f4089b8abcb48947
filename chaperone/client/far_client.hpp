// chaperone/client/far_client.hpp: what readers and `kill` do for a durable remote run
// (`run --hold far`): start a new local follower when the old one is gone, and queue
// signals for the far chaperone.
#pragma once

#include "spool/run_dir.hpp"

#include <string>
#include <vector>

namespace chaperone {

// True if the run is held by a far chaperone (state.json has `far`).
bool is_far_run(const spool::RunState& state);

// Installs the spool's revive hook (spool/run_dir.hpp): a run with a far side whose local
// follower died gets a new one (chaperone-supervisor --mirror), which catches up from the
// local files' sizes. Called once by the CLI at start.
void install_far_reviver();

// Queues `chaperone kill FAR_ID ARGS...` for the far side (e.g. {"-s", "TERM"} or
// {"--grace", "10s"}) and wakes the local follower, which sends it now or, while the link
// is down, as soon as it is back. Throws std::runtime_error if the run is final.
void queue_far_request(const spool::RunDir& run, const std::vector<std::string>& args);

// For `gc`: removes the far run of a durable remote run from the far spool, once its
// outcome is home (the local state is final). Returns a one-line result ("removed", "gone");
// throws std::runtime_error if the local run is not final, the far run is not final there,
// or ssh fails. A local run without a far side: returns "" and does nothing.
std::string remove_far_run(const spool::RunDir& run);

} // namespace chaperone
