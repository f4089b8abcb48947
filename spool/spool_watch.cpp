// spool/spool_watch.cpp: see spool_watch.hpp.
#include "spool/spool_watch.hpp"

#include "spool/error.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chaperone::spool {

SpoolWatch::SpoolWatch(const SpoolRoot& root, bool watch_root, bool watch_output)
    : m_root(root.path()), m_watch_output(watch_output),
      m_fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
  if (!m_fd.valid()) {
    throw_errno("inotify_init1");
  }
  if (watch_root) {
    m_root_wd = ::inotify_add_watch(
        m_fd.get(), m_root.c_str(), IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
    if (m_root_wd < 0) {
      throw_errno("inotify_add_watch " + m_root.string());
    }
  }
}

bool SpoolWatch::add_run(const std::string& run_id) {
  if (m_wd_by_run.count(run_id) != 0) {
    return true;
  }
  std::filesystem::path dir = m_root / run_id;
  std::uint32_t mask =
      IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
  if (m_watch_output) {
    mask |= IN_MODIFY;
  }
  int wd = ::inotify_add_watch(m_fd.get(), dir.c_str(), mask);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return false;
    }
    throw_errno("inotify_add_watch " + dir.string());
  }
  m_runs_by_wd[wd] = run_id;
  m_wd_by_run[run_id] = wd;
  return true;
}

void SpoolWatch::remove_run(const std::string& run_id) {
  auto it = m_wd_by_run.find(run_id);
  if (it == m_wd_by_run.end()) {
    return;
  }
  (void)::inotify_rm_watch(m_fd.get(), it->second); // fails harmlessly if already gone
  m_runs_by_wd.erase(it->second);
  m_wd_by_run.erase(it);
}

SpoolChanges SpoolWatch::next(std::optional<std::chrono::steady_clock::time_point> deadline) {
  SpoolChanges changes;
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      timeout_ms = left.count() < 0 ? 0 : static_cast<int>(left.count());
    }
    pollfd pfd{m_fd.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("poll inotify");
    }
    if (ready == 0) {
      return changes;
    }
    alignas(inotify_event) char buffer[64 * 1024];
    ssize_t n = ::read(m_fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      throw_errno("read inotify");
    }
    for (char* p = buffer; p < buffer + n;) {
      inotify_event event{};
      std::memcpy(&event, p, sizeof event);
      std::string name = event.len > 0 ? std::string(p + sizeof event) : std::string();
      p += sizeof event + event.len;
      if (event.mask & IN_Q_OVERFLOW) {
        // Events were dropped: every watched run may have changed, and new runs may exist.
        for (const auto& [run_id, wd] : m_wd_by_run) {
          changes.runs.insert(run_id);
        }
        changes.appeared.insert(std::string());
        continue;
      }
      if (event.wd == m_root_wd) {
        if (!name.empty() && name[0] != '.') {
          changes.appeared.insert(name);
        }
        continue;
      }
      auto run = m_runs_by_wd.find(event.wd);
      if (run == m_runs_by_wd.end()) {
        continue;
      }
      if (event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        changes.gone.insert(run->second);
        continue;
      }
      changes.runs.insert(run->second);
    }
    if (!changes.runs.empty() || !changes.appeared.empty() || !changes.gone.empty()) {
      return changes;
    }
  }
}

} // namespace chaperone::spool
