// spool/spool_watch.cpp: see spool_watch.hpp.
#include "spool/spool_watch.hpp"

#include "spool/error.hpp"
#include "spool/run_dir.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chaperone::spool {

namespace {

// The run dir's own events: none of them is reported through a child, so the dir's
// children stay unmarked and writes to them never look at the dir (see the header).
constexpr std::uint32_t k_dir_mask =
    IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

// Names whose replacement or removal (on the dir) means their watch must be placed again.
bool names_watched_file(const std::string& name, bool output) {
  return name == k_state_file || name == k_lock_file
         || (output && (name == k_stdout_file || name == k_stderr_file));
}

// A watch on one file; -1 when none can be had. ENOENT: not there (now); ENOSPC/ENOMEM:
// watches used up (max_user_watches); EACCES: not ours to watch. None loses an event: the
// caller has the file's dir ask for it instead.
int watch_file_itself(int inotify, const std::filesystem::path& path, std::uint32_t mask) {
  int wd = ::inotify_add_watch(inotify, path.c_str(), mask);
  if (wd < 0 && errno != ENOENT && errno != ENOSPC && errno != ENOMEM && errno != EACCES) {
    throw_errno("inotify_add_watch " + path.string());
  }
  return wd < 0 ? -1 : wd;
}

} // namespace

int watch_closes_of(int inotify, const std::filesystem::path& path) {
  return watch_file_itself(inotify, path, IN_CLOSE_WRITE | IN_DONT_FOLLOW);
}

int watch_appends_of(int inotify, const std::filesystem::path& path) {
  // One-shot: the kernel takes the watch off at the first append (queueing one event), so
  // the writer's appends after it cost nothing until it is armed again, unlike a standing
  // IN_MODIFY watch (an event allocated and merged per write(2)).
  return watch_file_itself(inotify, path, IN_MODIFY | IN_ONESHOT | IN_DONT_FOLLOW);
}

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

std::uint32_t SpoolWatch::dir_mask(const Run& run) {
  return k_dir_mask | (run.dir_modify ? IN_MODIFY : 0U)
         | (run.dir_close_write ? IN_CLOSE_WRITE : 0U);
}

bool SpoolWatch::add_run(const std::string& run_id) {
  if (m_runs.count(run_id) != 0) {
    return true;
  }
  std::filesystem::path dir = m_root / run_id;
  // The dir first: a state.json or lock replaced after this is seen (IN_MOVED_TO) even if the
  // file watches below land on the inode it replaced.
  int wd = ::inotify_add_watch(m_fd.get(), dir.c_str(), k_dir_mask);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return false;
    }
    throw_errno("inotify_add_watch " + dir.string());
  }
  Run& run = m_runs[run_id];
  run.dir_wd = wd;
  run.dir_mask_set = k_dir_mask;
  m_run_by_wd[wd] = run_id;
  watch_files(run_id, run);
  return true;
}

// Returns the wd watching `path` for IN_CLOSE_WRITE, or -1 if none can be had (the file is
// missing, or no watch is left): the caller then has the dir ask for closes.
int SpoolWatch::watch_file(const std::filesystem::path& path,
                           int current_wd,
                           const std::string& run_id) {
  int wd = watch_closes_of(m_fd.get(), path);
  if (wd != current_wd) {
    if (wd >= 0) {
      m_run_by_wd[wd] = run_id;
    }
    // A new inode (the file was replaced) or none: the old watch goes. The replaced inode
    // may live on (a supervisor keeps the states it replaces: ReleaseLater), and its watch
    // would hold one of the user's inotify watches for as long as we watch the run. What
    // the kernel had queued for it finds no owner; the replacement itself was an event.
    if (current_wd >= 0) {
      forget_wd(current_wd);
    }
  }
  return wd;
}

void SpoolWatch::watch_files(const std::string& run_id, Run& run) {
  std::filesystem::path dir = m_root / run_id;
  run.state_wd = watch_file(dir / k_state_file, run.state_wd, run_id);
  run.lock_wd = watch_file(dir / k_lock_file, run.lock_wd, run_id);
  run.dir_close_write = run.state_wd < 0 || run.lock_wd < 0;
  if (m_watch_output) {
    arm_output(run_id, run, true);
  }
  set_dir_mask(run_id, run);
}

void SpoolWatch::arm_output(const std::string& run_id, Run& run, bool all) {
  bool missing = false;
  for (Stream stream : {Stream::out, Stream::err}) {
    int& current = run.stream_wds[stream == Stream::out ? 0 : 1];
    if (current >= 0 && !all) {
      continue; // armed, not fired
    }
    std::filesystem::path path =
        m_root / run_id / (stream == Stream::out ? k_stdout_file : k_stderr_file);
    int wd = watch_appends_of(m_fd.get(), path); // -1: the dir asks for appends instead
    if (wd != current && current >= 0) {
      // The file was replaced or removed: its old inode's watch is of no use now (and may
      // already be gone, which inotify_rm_watch tells harmlessly).
      forget_wd(current);
    }
    if (wd >= 0) {
      m_run_by_wd[wd] = run_id; // the same wd again when it was still armed
    }
    current = wd;
    missing = missing || wd < 0;
  }
  run.dir_modify = missing;
}

void SpoolWatch::set_dir_mask(const std::string& run_id, Run& run) {
  std::uint32_t mask = dir_mask(run);
  if (mask == run.dir_mask_set) {
    return;
  }
  // The file watches were placed before the dir stops asking: nothing falls in between.
  // Same inode, same wd: this only replaces the mask.
  std::filesystem::path dir = m_root / run_id;
  if (::inotify_add_watch(m_fd.get(), dir.c_str(), mask) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return; // gone: its IN_DELETE_SELF is queued
    }
    throw_errno("inotify_add_watch " + dir.string());
  }
  run.dir_mask_set = mask;
}

void SpoolWatch::forget_wd(int wd) {
  (void)::inotify_rm_watch(m_fd.get(), wd); // fails harmlessly if already gone
  m_run_by_wd.erase(wd);
}

void SpoolWatch::remove_run(const std::string& run_id) {
  if (m_runs.erase(run_id) == 0) {
    return;
  }
  for (auto it = m_run_by_wd.begin(); it != m_run_by_wd.end();) {
    auto next = std::next(it);
    if (it->second == run_id) {
      forget_wd(it->first);
    }
    it = next;
  }
}

bool SpoolWatch::dir_watches_closes(const std::string& run_id) const {
  auto it = m_runs.find(run_id);
  return it != m_runs.end() && (it->second.dir_mask_set & IN_CLOSE_WRITE) != 0;
}

bool SpoolWatch::dir_watches_appends(const std::string& run_id) const {
  auto it = m_runs.find(run_id);
  return it != m_runs.end() && (it->second.dir_mask_set & IN_MODIFY) != 0;
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
    // Runs whose files may have been replaced or removed: watched again once the batch is
    // read, before the caller reads them. Likewise runs whose output watch fired.
    std::set<std::string> rewatch;
    std::set<std::string> rearm;
    for (char* p = buffer; p < buffer + n;) {
      inotify_event event{};
      std::memcpy(&event, p, sizeof event);
      std::string name = event.len > 0 ? std::string(p + sizeof event) : std::string();
      p += sizeof event + event.len;
      if (event.mask & IN_Q_OVERFLOW) {
        // Events were dropped: every watched run may have changed, and new runs may exist.
        for (const auto& [run_id, run] : m_runs) {
          changes.runs.insert(run_id);
          rewatch.insert(run_id);
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
      auto owner = m_run_by_wd.find(event.wd);
      if (owner == m_run_by_wd.end()) {
        continue; // a run removed, or a wd taken off
      }
      std::string run_id = owner->second;
      Run& run = m_runs.at(run_id);
      if (event.wd == run.dir_wd) {
        if (event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          changes.gone.insert(run_id);
          continue;
        }
        if ((event.mask & IN_MODIFY) == 0 && names_watched_file(name, m_watch_output)) {
          rewatch.insert(run_id); // replaced (IN_MOVED_TO), removed, or closed on the dir
        }
        changes.runs.insert(run_id);
        continue;
      }
      if (event.wd == run.stream_wds[0] || event.wd == run.stream_wds[1]) {
        // The one-shot fired (IN_MODIFY; the kernel took it off, its IN_IGNORED follows and
        // finds no owner), or its file's inode went (IN_IGNORED): armed again below.
        m_run_by_wd.erase(event.wd);
        run.stream_wds[event.wd == run.stream_wds[0] ? 0 : 1] = -1;
        rearm.insert(run_id);
        changes.runs.insert(run_id);
        continue;
      }
      bool current = event.wd == run.state_wd || event.wd == run.lock_wd;
      if (event.mask & IN_IGNORED) {
        // The watched inode was freed (the file replaced or removed): forget its wd; if it
        // was a current one, watch the path again (or fall back to the dir).
        m_run_by_wd.erase(event.wd);
        if (event.wd == run.state_wd) {
          run.state_wd = -1;
        }
        if (event.wd == run.lock_wd) {
          run.lock_wd = -1;
        }
      }
      if (current) {
        if (event.mask & IN_IGNORED) {
          rewatch.insert(run_id);
        }
        changes.runs.insert(run_id); // written in place, or the supervisor let go of `lock`
      }
    }
    for (const std::string& run_id : rewatch) {
      auto run = m_runs.find(run_id);
      if (run != m_runs.end() && changes.gone.count(run_id) == 0) {
        watch_files(run_id, run->second);
      }
    }
    for (const std::string& run_id : rearm) {
      auto run = m_runs.find(run_id);
      if (run != m_runs.end() && changes.gone.count(run_id) == 0 && rewatch.count(run_id) == 0) {
        arm_output(run_id, run->second, false);
        set_dir_mask(run_id, run->second);
      }
    }
    if (!changes.runs.empty() || !changes.appeared.empty() || !changes.gone.empty()) {
      return changes;
    }
  }
}

} // namespace chaperone::spool
