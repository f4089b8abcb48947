// chaperone/signal_run.hpp: deliver a signal to a run's program (its whole process group).
#pragma once

#include "spool/run_dir.hpp"

namespace chaperone {

// Sends `signum` to the run's process group. Refuses (std::runtime_error) a run that is
// final, lost, not started yet, or whose recorded pid no longer names the same process
// (another boot, or a pid reused since): a signal must never hit a stranger.
// Returns the pgid signalled.
pid_t signal_run(const spool::RunDir& run, int signum);

} // namespace chaperone
