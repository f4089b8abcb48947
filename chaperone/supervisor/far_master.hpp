// chaperone/supervisor/far_master.hpp: the automatic ssh master that the mirrors of one spool
// share per far host (`--hold far`): one ssh connection per host, not one per run and
// reconnection. The socket and its lock live in SPOOL/.far/.
#pragma once

#include "cmdbuild/command.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace chaperone {

class FarMaster {
public:
  // Picks SPOOL/.far/cm-HASH for `target` (cmdbuild/ssh_master.hpp), or no master at all when
  // the target may not share one (the user's own ControlPath or ControlMaster, sudo-then-ssh)
  // or the socket path would be too long or unsafe for ssh.
  FarMaster(const cmdbuild::Target& target,
            const std::filesystem::path& spool_root,
            std::shared_ptr<spdlog::logger> log);

  // The target for every ssh command of the run: through the master when one answers, else
  // a connection of its own.
  const cmdbuild::Target& target() const { return m_shared; }
  const std::string& socket() const { return m_socket; }

  // Makes sure a master answers on the socket before a command goes out. If none does, the
  // first caller takes the socket's lock and starts one (ssh forks it into the background
  // once authenticated); callers that find the lock taken wait for that attempt and use what
  // it made. Never fails: a command whose master is missing connects on its own. Blocks up
  // to the connect timeout + 20 s.
  void ensure();

private:
  cmdbuild::Target m_plain;
  cmdbuild::Target m_shared;
  std::string m_socket;
  std::shared_ptr<spdlog::logger> m_log;
};

} // namespace chaperone
