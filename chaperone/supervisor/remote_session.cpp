// chaperone/supervisor/remote_session.cpp: see remote_session.hpp.
#include "chaperone/supervisor/remote_session.hpp"

#include "chaperone/supervisor/signal_name.hpp"
#include "chaperone/supervisor/spawn.hpp"

#include <spdlog/logger.h>

namespace chaperone {

void RemoteSession::send_far_signal(int signum, bool guarded_by_nonce) {
  SpawnRequest request;
  request.argv = cmdbuild::build_remote_kill(
      m_target, *m_markers->pgid(), signum, guarded_by_nonce ? m_nonce : std::string());
  request.new_process_group = true;
  pid_t pid = spawn_process(request);
  m_helpers.insert(pid);
  m_log->info("remote kill helper pid={} sends {} to far group {}",
              pid,
              signal_name(signum),
              *m_markers->pgid());
}

std::optional<FarReport> RemoteSession::report() const {
  if (m_markers == nullptr) {
    return std::nullopt;
  }
  FarReport far;
  far.started = m_markers->pid().has_value();
  far.exit_code = m_markers->exit_code();
  far.signal = m_markers->signal();
  far.core_dumped = m_markers->core_dumped();
  far.cwd_error = m_markers->cwd_error();
  far.exec_error = m_markers->exec_error();
  far.wrapper_error = m_markers->wrapper_error();
  return far;
}

} // namespace chaperone
