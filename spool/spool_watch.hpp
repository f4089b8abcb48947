// spool/spool_watch.hpp: one inotify instance over a spool root and many run dirs, for
// readers that follow several runs at once (`wait --any`, `watch`).
#pragma once

#include "spool/fd.hpp"
#include "spool/spool_root.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace chaperone::spool {

struct SpoolChanges {
  // Runs whose state.json, lock or output changed. Their output watches are armed again
  // before next() returns: read their output to its end after that (see SpoolWatch).
  std::set<std::string> runs;
  std::set<std::string> appeared; // names renamed or created in the root (not hidden)
  std::set<std::string> gone;     // watched run dirs that were removed or moved away
};

// What a run tells, and where it is watched:
// - state.json replaced (renamed in: IN_MOVED_TO on the run dir) or removed (IN_DELETE);
// - state.json written in place (IN_CLOSE_WRITE on the file itself, watched again after
//   each replacement);
// - the supervisor's death: its lock fd is the last reference to its open file of `lock`,
//   so its exit, also by SIGKILL, closes it: IN_CLOSE_WRITE on `lock` itself;
// - the run dir removed or moved (IN_DELETE_SELF, IN_MOVE_SELF on the dir);
// - optionally output appended: a one-shot IN_MODIFY watch on stdout and stderr themselves
//   (IN_ONESHOT: the kernel takes it off at the first append, and later appends cost the
//   writer nothing until it is armed again).
// The closes and appends are watched on the files and not on the dir: a dir watch that asks
// for an event reported through its children marks every child, and then each write(2) of
// the program to stdout walks to the dir and back (__fsnotify_parent: ~18% of the CPU time of
// a program writing 128-byte lines into a watched run with IN_CLOSE_WRITE, +75% with
// IN_MODIFY, which also queues an event per write; perf). Only while a file watch cannot be
// had (file missing, watches used up) does the dir ask for IN_CLOSE_WRITE or IN_MODIFY.
//
// Output: next() reports a run whose one-shot fired and arms it again before it returns, so
// a caller that then reads each reported run's output to the current end of the files misses
// no append: an append whose event came before the arm is under that end (a write updates
// the size before it notifies), and one after it fires the new watch.
// Watches the file at `path` itself for IN_CLOSE_WRITE on inotify instance `inotify`: its wd,
// or -1 when no watch can be had (missing, watches used up, EACCES) and the caller has the
// file's dir ask for closes instead. Throws std::system_error on any other failure.
int watch_closes_of(int inotify, const std::filesystem::path& path);
// The same for appends: a one-shot IN_MODIFY watch on the file (armed again by the caller
// after it has read to the end), or -1 and the caller's dir asks for IN_MODIFY instead.
int watch_appends_of(int inotify, const std::filesystem::path& path);

class SpoolWatch {
public:
  // Watches the root itself when `watch_root` (runs are published by rename: IN_MOVED_TO).
  // Throws std::system_error naming the call.
  SpoolWatch(const SpoolRoot& root, bool watch_root, bool watch_output);

  // Starts watching one run dir; returns false if it is not there (any more). Throws
  // std::system_error naming the call (for example ENOSPC: no inotify watch left).
  bool add_run(const std::string& run_id);
  void remove_run(const std::string& run_id);

  // Waits for events until `deadline` (none: forever) and returns what changed (empty on
  // the deadline). Throws std::system_error naming the call.
  SpoolChanges next(std::optional<std::chrono::steady_clock::time_point> deadline);

  // Whether the run's dir asks for IN_CLOSE_WRITE (a file watch could not be had); false for
  // a run not watched. For tests.
  bool dir_watches_closes(const std::string& run_id) const;
  // Whether the run's dir asks for IN_MODIFY (an output watch could not be had). For tests.
  bool dir_watches_appends(const std::string& run_id) const;

private:
  struct Run {
    int dir_wd = -1;
    int state_wd = -1;              // IN_CLOSE_WRITE on state.json (-1: none)
    int lock_wd = -1;               // IN_CLOSE_WRITE on lock (-1: none)
    int stream_wds[2] = {-1, -1};   // one-shot IN_MODIFY on stdout, stderr (-1: not armed)
    std::uint32_t dir_mask_set = 0; // the dir's mask as last given to the kernel
    bool dir_close_write = false;   // the fallback: the dir should ask for IN_CLOSE_WRITE
    bool dir_modify = false;        // the fallback: the dir should ask for IN_MODIFY
  };

  static std::uint32_t dir_mask(const Run& run);
  // (Re)watches the run's state.json, lock and (with output) streams, then sets the dir's
  // mask for what is missing.
  void watch_files(const std::string& run_id, Run& run);
  int watch_file(const std::filesystem::path& path, int current_wd, const std::string& run_id);
  // Arms the one-shot watch of each stream whose watch fired or may point at a replaced
  // file (all of them when `all`); records whether the dir must ask for appends instead.
  void arm_output(const std::string& run_id, Run& run, bool all);
  void set_dir_mask(const std::string& run_id, Run& run);
  void forget_wd(int wd);

  std::filesystem::path m_root;
  bool m_watch_output;
  Fd m_fd;
  int m_root_wd = -1;
  std::map<std::string, Run> m_runs;
  // Every wd of a run (its dir, current files, and replaced files until their IN_IGNORED).
  std::map<int, std::string> m_run_by_wd;
};

} // namespace chaperone::spool
