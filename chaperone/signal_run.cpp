// chaperone/signal_run.cpp: checked process-group signalling.
#include "chaperone/signal_run.hpp"

#include "chaperone/signal_name.hpp"
#include "spool/host.hpp"

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace chaperone {

pid_t signal_run(const spool::RunDir& run, int signum) {
  spool::RunState state = run.read_state_resolving_lost();
  const std::string& id = run.run_id();
  if (spool::is_final(state.state)) {
    throw std::runtime_error("run " + id + " has already ended (" + spool::to_string(state.state)
                             + ")");
  }
  if (!state.pgid || !state.pid) {
    throw std::runtime_error("run " + id + " has not started its program yet");
  }
  if (!state.boot_id.empty() && state.boot_id != spool::boot_id()) {
    throw std::runtime_error("run " + id + " was started before the last reboot");
  }
  // The leader may have exited while the supervisor ends its leftovers; then the group id is
  // still held by the remaining members (the kernel does not reuse a pid that names a live
  // group), and the supervisor's lock proves the run is not over.
  auto ticks = spool::process_start_ticks(*state.pid);
  if (ticks && state.pid_start_ticks && ticks != state.pid_start_ticks) {
    throw std::runtime_error("run " + id + ": pid " + std::to_string(*state.pid)
                             + " now belongs to another process; not signalling");
  }
  if (::kill(-*state.pgid, signum) != 0) {
    if (errno == ESRCH) {
      throw std::runtime_error("run " + id + ": its process group " + std::to_string(*state.pgid)
                               + " is already gone");
    }
    throw std::runtime_error("kill " + signal_name(signum) + " to group "
                             + std::to_string(*state.pgid) + ": " + std::strerror(errno));
  }
  return *state.pgid;
}

} // namespace chaperone
