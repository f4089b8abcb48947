// chaperone/callback/sender_watch.hpp: what wakes the callback sender (its run's state
// replaced, its output appended, its dir gone, its supervisor's exit), through inotify
// watches that leave the program's writes alone.
#pragma once

#include "spool/fd.hpp"
#include "spool/run_dir.hpp"

#include <chrono>
#include <optional>

namespace chaperone {

// What woke one SenderWatch::wait (all false: the timeout).
struct SenderWake {
  bool state = false;      // state.json renamed in, an entry moved in or the dir went; or
                           // events were dropped (queue overflow)
  bool output = false;     // an append to stdout or stderr
  bool supervisor = false; // the supervisor's pidfd became readable: it exited
};

// The run dir is watched only for its own events (IN_MOVED_TO: state.json replaced, as the
// supervisor does; IN_DELETE_SELF, IN_MOVE_SELF: the run removed). Appends are seen through a
// one-shot IN_MODIFY watch on stdout and stderr themselves: the kernel takes it off at the
// first append, so the program's writes after that cost it nothing until arm() asks again.
// A dir watch asking for IN_MODIFY instead marks every child of the dir, and each write(2)
// of the program then walks to the dir and queues an event (+75% CPU for a program writing
// 128-byte lines, docs/bench/PROFILE-2026-12-02c.md). Only while a stream's watch cannot be
// had (file missing, watches used up: ENOENT, ENOSPC, ENOMEM, EACCES) does the dir ask for
// IN_MODIFY, until arm() gets both file watches back.
class SenderWatch {
public:
  // Watches the run dir. Throws std::system_error naming the call.
  explicit SenderWatch(spool::RunDir run);

  // Arms the one-shot watch of each stream that has none (fired, or its file replaced).
  // Call it before reading the streams' sizes: an append that this read does not see then
  // wakes wait() (a write updates the size before it notifies). Throws std::system_error.
  void arm();

  // Waits for an event, `pidfd` (if >= 0) to become readable, or `timeout` (none: no limit).
  // Throws std::system_error naming the call.
  SenderWake wait(int pidfd, std::optional<std::chrono::steady_clock::duration> timeout);

private:
  void set_dir_mask(bool modify);
  void read_events(SenderWake& wake);

  spool::RunDir m_run;
  spool::Fd m_fd;
  int m_dir_wd = -1;
  int m_stream_wds[2] = {-1, -1}; // armed one-shots on stdout, stderr (-1: none)
  bool m_dir_modify = false;      // the fallback: the dir asks for IN_MODIFY
};

} // namespace chaperone
