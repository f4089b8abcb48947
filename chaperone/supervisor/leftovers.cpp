// chaperone/supervisor/leftovers.cpp: see leftovers.hpp.
#include "chaperone/supervisor/leftovers.hpp"

#include "chaperone/supervisor/signal_name.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <unistd.h>

#include <csignal>
#include <sstream>
#include <string>
#include <system_error>

namespace chaperone {

std::vector<pid_t> direct_children() {
  std::vector<pid_t> pids;
  std::string text;
  try {
    pid_t self = ::getpid();
    text = spool::read_file("/proc/" + std::to_string(self) + "/task/" + std::to_string(self)
                            + "/children");
  } catch (const std::system_error&) {
    return pids;
  }
  std::istringstream in(text);
  pid_t pid = 0;
  while (in >> pid) {
    pids.push_back(pid);
  }
  return pids;
}

void LeftoverReaper::signal_all(int signum,
                                pid_t program_pgid,
                                const std::function<bool(pid_t)>& is_ours) {
  if (m_signaled_level != signum) {
    m_signaled_level = signum;
    m_signaled.clear();
  }
  if (program_pgid > 0 && m_signaled.insert(-program_pgid).second
      && ::kill(-program_pgid, signum) == 0) {
    m_log->debug("sent {} to group {}", signal_name(signum), program_pgid);
  }
  for (pid_t child : direct_children()) {
    if (is_ours(child) || !m_signaled.insert(child).second) {
      continue;
    }
    ::kill(child, signum);
    pid_t group = ::getpgid(child);
    if (group == child) {
      ::kill(-child, signum);
    }
    m_log->debug("sent {} to leftover pid {}", signal_name(signum), child);
  }
}

} // namespace chaperone
