// spool/spool_watch.hpp: one inotify instance over a spool root and many run dirs, for
// readers that follow several runs at once (`wait --any`, `watch`).
#pragma once

#include "spool/fd.hpp"
#include "spool/spool_root.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace chaperone::spool {

struct SpoolChanges {
  std::set<std::string> runs;     // runs whose state.json, lock or output changed
  std::set<std::string> appeared; // names renamed or created in the root (not hidden)
  std::set<std::string> gone;     // watched run dirs that were removed or moved away
};

// What a run dir tells: state.json replaced (IN_MOVED_TO), the lock closed after writing
// (IN_CLOSE_WRITE: the supervisor's lock fd is the last reference to its open file, so its
// death shows here, also by SIGKILL), and optionally output appended (IN_MODIFY).
class SpoolWatch {
public:
  // Watches the root itself when `watch_root` (runs are published by rename: IN_MOVED_TO).
  SpoolWatch(const SpoolRoot& root, bool watch_root, bool watch_output);

  // Starts watching one run dir; returns false if it is not there (any more).
  bool add_run(const std::string& run_id);
  void remove_run(const std::string& run_id);

  // Waits for events until `deadline` (none: forever) and returns what changed (empty on
  // the deadline). Throws std::system_error naming the call.
  SpoolChanges next(std::optional<std::chrono::steady_clock::time_point> deadline);

private:
  std::filesystem::path m_root;
  bool m_watch_output;
  Fd m_fd;
  int m_root_wd = -1;
  std::map<int, std::string> m_runs_by_wd;
  std::map<std::string, int> m_wd_by_run;
};

} // namespace chaperone::spool
