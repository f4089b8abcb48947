// chaperone/supervisor/far_master.cpp: finds, or starts, the ssh master of a far host.
#include "chaperone/supervisor/far_master.hpp"

#include "chaperone/supervisor/far_command.hpp"
#include "cmdbuild/ssh_master.hpp"
#include "spool/fd.hpp"

#include <spdlog/logger.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chaperone {

namespace {

enum class Answer { yes, no_socket, dead };

// A live master accepts on its socket; a dead one leaves a socket nobody listens on.
Answer answers(const std::string& path) {
  spool::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Answer::no_socket;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    return Answer::yes;
  }
  return errno == ECONNREFUSED ? Answer::dead : Answer::no_socket;
}

} // namespace

FarMaster::FarMaster(const cmdbuild::Target& target,
                     const std::filesystem::path& spool_root,
                     std::shared_ptr<spdlog::logger> log)
    : m_plain(target), m_shared(target), m_log(std::move(log)) {
  if (!cmdbuild::may_share_master(target)) {
    return;
  }
  std::filesystem::path dir = spool_root / ".far";
  std::string socket = (dir / cmdbuild::master_socket_name(target)).string();
  if (!cmdbuild::usable_master_path(socket)) {
    m_log->info("no shared ssh connection: socket path {} too long or unsafe for ssh", socket);
    return;
  }
  // Private: whoever can reach the socket can run commands over our connection.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    m_log->warn("no shared ssh connection: mkdir {}: {}", dir.string(), std::strerror(errno));
    return;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()
      || (st.st_mode & 0077) != 0) {
    m_log->warn("no shared ssh connection: {} is not a private directory of ours", dir.string());
    return;
  }
  m_socket = socket;
  m_shared = cmdbuild::via_master(target, socket);
}

void FarMaster::ensure() {
  if (m_socket.empty() || answers(m_socket) == Answer::yes) {
    return;
  }
  std::string lock_path = m_socket + ".lock";
  spool::Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) {
    m_log->warn("ssh master lock {}: {}", lock_path, std::strerror(errno));
    return;
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    // Another mirror is starting the master: wait for its attempt (bounded by its ssh's
    // deadline) and use whatever it made, so a host gets one connection, not one per run.
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
    return;
  }
  Answer answer = answers(m_socket);
  if (answer == Answer::yes) {
    return;
  }
  if (answer == Answer::dead) {
    // ssh will not bind over a socket left by a master that died: under the lock, nobody
    // else is starting one, so it is stale.
    (void)::unlink(m_socket.c_str());
  }
  CommandOutcome started = run_command(cmdbuild::master_start_command(m_plain, m_socket),
                                       {},
                                       std::chrono::seconds(m_plain.connect_timeout + 20));
  if (started.exit_code == 0) {
    m_log->info("ssh master for {} started at {}", m_plain.host, m_socket);
  } else {
    m_log->warn("ssh master for {} not started (exit {}): {}",
                m_plain.host,
                started.exit_code,
                started.last_err_line());
  }
}

} // namespace chaperone
