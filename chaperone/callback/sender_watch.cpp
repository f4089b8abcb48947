// chaperone/callback/sender_watch.cpp: see sender_watch.hpp.
#include "chaperone/callback/sender_watch.hpp"

#include "spool/error.hpp"
#include "spool/spool_watch.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace chaperone {

namespace {

// None of these is reported through a child: the dir's children stay unmarked.
constexpr std::uint32_t k_dir_mask =
    IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

const char* stream_file(int i) {
  return i == 0 ? spool::k_stdout_file : spool::k_stderr_file;
}

} // namespace

SenderWatch::SenderWatch(spool::RunDir run)
    : m_run(std::move(run)), m_fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
  if (!m_fd.valid()) {
    spool::throw_errno("inotify_init1");
  }
  m_dir_wd = ::inotify_add_watch(m_fd.get(), m_run.path().c_str(), k_dir_mask);
  if (m_dir_wd < 0) {
    spool::throw_errno("inotify_add_watch " + m_run.path().string());
  }
}

void SenderWatch::set_dir_mask(bool modify) {
  if (modify == m_dir_modify) {
    return;
  }
  // Same inode, same wd: only the mask changes. ENOENT: the dir is gone, its IN_DELETE_SELF
  // is queued.
  if (::inotify_add_watch(m_fd.get(), m_run.path().c_str(), k_dir_mask | (modify ? IN_MODIFY : 0U))
          < 0
      && errno != ENOENT) {
    spool::throw_errno("inotify_add_watch " + m_run.path().string());
  }
  m_dir_modify = modify;
}

void SenderWatch::arm() {
  bool missing = false;
  for (int i = 0; i < 2; ++i) {
    if (m_stream_wds[i] >= 0) {
      continue;
    }
    int wd = spool::watch_appends_of(m_fd.get(), m_run.file(stream_file(i)));
    m_stream_wds[i] = wd; // -1: the dir asks for appends instead
    missing = missing || wd < 0;
  }
  // Both file watches placed before the dir stops asking: no append falls in between.
  set_dir_mask(missing);
}

void SenderWatch::read_events(SenderWake& wake) {
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    ssize_t n = ::read(m_fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    if (n <= 0) {
      spool::throw_errno("read inotify on " + m_run.path().string());
    }
    for (ssize_t at = 0; at < n;) {
      inotify_event event{};
      std::memcpy(&event, buffer + at, sizeof event);
      const char* name = event.len > 0 ? buffer + at + sizeof event : "";
      at += static_cast<ssize_t>(sizeof event + event.len);
      if ((event.mask & IN_Q_OVERFLOW) != 0) {
        // A one-shot's event may be among those dropped: arm() places both again (the same
        // wd if a watch still stands), and the caller looks at everything.
        wake.state = wake.output = true;
        m_stream_wds[0] = m_stream_wds[1] = -1;
        continue;
      }
      int stream = event.wd == m_stream_wds[0] ? 0 : event.wd == m_stream_wds[1] ? 1 : -1;
      if (stream >= 0) {
        // Fired (IN_MODIFY: the kernel took it off; its IN_IGNORED follows and matches
        // nothing), or the file's inode went (IN_IGNORED): arm() asks again.
        m_stream_wds[stream] = -1;
        wake.output = true;
        continue;
      }
      if (event.wd != m_dir_wd) {
        continue; // the IN_IGNORED after a one-shot fired, or of a watch replaced below
      }
      if ((event.mask & IN_MODIFY) != 0) {
        wake.output = true; // the fallback
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (m_stream_wds[i] >= 0 && std::strcmp(name, stream_file(i)) == 0) {
          // A stream file renamed over: its watch is on the old inode; watch the new one.
          (void)::inotify_rm_watch(m_fd.get(), m_stream_wds[i]);
          m_stream_wds[i] = -1;
          wake.output = true;
        }
      }
      wake.state = true;
    }
    // Room left for the largest event: the queue was empty at this read.
    if (sizeof buffer - static_cast<size_t>(n) >= sizeof(inotify_event) + NAME_MAX + 1) {
      return;
    }
  }
}

SenderWake SenderWatch::wait(int pidfd,
                             std::optional<std::chrono::steady_clock::duration> timeout) {
  pollfd fds[2] = {{m_fd.get(), POLLIN, 0}, {pidfd, POLLIN, 0}};
  nfds_t count = pidfd >= 0 ? 2 : 1;
  int ms = -1;
  if (timeout) {
    ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(
                              std::max(*timeout, std::chrono::steady_clock::duration::zero()))
                              .count());
  }
  SenderWake wake;
  int rc = ::poll(fds, count, ms);
  if (rc < 0 && errno != EINTR) {
    spool::throw_errno("poll");
  }
  if (rc <= 0) {
    return wake;
  }
  if (count == 2 && (fds[1].revents & POLLIN) != 0) {
    wake.supervisor = true;
  }
  if ((fds[0].revents & POLLIN) != 0) {
    read_events(wake);
  }
  return wake;
}

} // namespace chaperone
