// chaperone/attach_session.hpp: a front end attached to a run (run, attach).
#pragma once

#include "chaperone/cli/cli_context.hpp"
#include "spool/run_dir.hpp"

#include <cstdint>
#include <optional>

namespace chaperone {

struct AttachOptions {
  std::uint64_t stdout_offset = 0;
  std::uint64_t stderr_offset = 0;
  bool want_stdout = true;
  bool want_stderr = true;
  // Write the event stream of spool/event.hpp (JSON lines on stdout) instead of raw bytes.
  bool json = false;
  // An inotify instance to lend to the Follower (FollowOptions::inotify_fd), or -1.
  int inotify_fd = -1;
  // A pidfd of the run's supervisor to lend to the Follower (FollowOptions::supervisor_pidfd),
  // or -1.
  int supervisor_pidfd = -1;
};

// What a caller of wait_for_supervisor_to_let_go() already knows of the run, so that it is
// not read again from the spool.
struct KnownRunEnd {
  bool final_seen = false;         // its final state.json was read
  std::optional<bool> has_on_exit; // whether its spec has an --on-exit command
};

// Streams the run's stdout and stderr to ours until it is final and returns the run's exit
// code. SIGINT and SIGTERM are passed to the program's group (the run then ends as the
// program decides); SIGHUP (a dropped terminal or ssh link) only detaches: returns 129 and
// the run goes on. A closed stdout (EPIPE) also detaches, returning 141. With options.json,
// stdout carries output events, a state event per observed state change, and one final
// event with the final state.json.
// `seen`, if given, records whether the final state was seen.
int attach_to_run(const spool::RunDir& run,
                  const AttachOptions& options,
                  CliContext& context,
                  KnownRunEnd* seen = nullptr);

// For a run whose final state was seen: waits (up to 10 s) until its supervisor lets go of
// the run - its directory fsyncs done, its reserve file gone - so that the caller's next
// command (`gc`, `rm -rf`, `run --replace`) finds a run nobody holds, and the final state
// is durable in the spool root when the caller moves on. Not for a run with an --on-exit
// command, which holds the run for as long as the command takes. Never fails: a run it
// cannot look at is left as it is. Blocks in flock(2) (lock_wait.hpp): the let-go wakes it.
void wait_for_supervisor_to_let_go(const spool::RunDir& run,
                                   CliContext& context,
                                   const KnownRunEnd& known = {});

} // namespace chaperone
