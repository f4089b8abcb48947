// chaperone/supervisor/remote_session.hpp: the far side of a remote run, as the supervisor
// sees it: what the far wrapper reported on its status channel, and the helper ssh processes
// that carry signals to the far process group.
#pragma once

#include "chaperone/supervisor/outcome.hpp"
#include "cmdbuild/command.hpp"
#include "cmdbuild/marker.hpp"

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>

namespace spdlog {
class logger;
}

namespace chaperone {

class RemoteSession {
public:
  RemoteSession(cmdbuild::Target target, std::string nonce, std::shared_ptr<spdlog::logger> logger)
      : m_target(std::move(target)), m_nonce(std::move(nonce)), m_log(std::move(logger)) {}

  // The status channel's filter (stderr's relay owns it), or nullptr when there is none.
  void attach_markers(const cmdbuild::MarkerFilter* markers) { m_markers = markers; }
  const cmdbuild::MarkerFilter* markers() const { return m_markers; }

  const cmdbuild::Target& target() const { return m_target; }
  bool via_ssh() const { return cmdbuild::is_ssh_mode(m_target.mode); }
  // The far program's group is known and it has not reported its end.
  bool far_group_reachable() const {
    return via_ssh() && m_markers != nullptr && m_markers->pgid() && !m_markers->finished();
  }

  // Starts `ssh ... kill` for the far group. With `guarded_by_nonce`, the far side signals
  // only while the group leader's parent is the wrapper carrying our nonce (the pgid cannot
  // then name a stranger). Throws std::system_error if ssh cannot be started.
  void send_far_signal(int signum, bool guarded_by_nonce = true);

  // Our own helper processes, which are neither the program nor its leftovers.
  bool is_helper(pid_t pid) const { return m_helpers.count(pid) != 0; }
  // Forgets a reaped helper; false if `pid` was not one.
  bool reaped(pid_t pid) { return m_helpers.erase(pid) != 0; }

  // The far report as plain data for decide_outcome(); nullopt without a status channel.
  std::optional<FarReport> report() const;

private:
  cmdbuild::Target m_target;
  std::string m_nonce;
  std::shared_ptr<spdlog::logger> m_log;
  const cmdbuild::MarkerFilter* m_markers = nullptr;
  std::set<pid_t> m_helpers;
};

} // namespace chaperone
