// chaperone/supervisor/leftovers.hpp: ends what a program leaves behind (its group and every
// process reparented to the supervisor), each process once per signal level.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <set>
#include <vector>

namespace spdlog {
class logger;
}

namespace chaperone {

// Our direct children, from /proc/self/task/<tid>/children (the supervisor is
// single-threaded where it matters: libuv starts no threads for signals, timers or polls).
std::vector<pid_t> direct_children();

class LeftoverReaper {
public:
  explicit LeftoverReaper(std::shared_ptr<spdlog::logger> logger) : m_log(std::move(logger)) {}

  // Sends `signum` to the program's group `program_pgid` (if > 0) and to every direct child
  // of ours (a child subreaper: setsid'd daemons and double forks end up there) that
  // `is_ours` does not claim. A program that traps TERM to clean up must not see it again on
  // every SIGCHLD, so each process gets each level once; a new level starts a new round.
  void signal_all(int signum, pid_t program_pgid, const std::function<bool(pid_t)>& is_ours);

  // The level the next round uses: SIGTERM until the grace is over, then SIGKILL.
  int level() const { return m_next_signal; }
  void escalate_to(int signum) { m_next_signal = signum; }

private:
  std::shared_ptr<spdlog::logger> m_log;
  int m_next_signal = 15; // SIGTERM
  int m_signaled_level = 0;
  std::set<pid_t> m_signaled; // pids (and -pgids) sent m_signaled_level already
};

} // namespace chaperone
