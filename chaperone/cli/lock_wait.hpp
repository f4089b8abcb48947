// chaperone/cli/lock_wait.hpp: waiting in the kernel for a run's lock to be let go.
//
// spool::FileLock::wait_until_free polls (a library must not touch its caller's signals),
// and a poll wakes late: on the bench VM an attached `run -- true` slept ~120 us in it on
// every run, after the supervisor had already let go (docs/bench/LAUNCH-2026-12-04.md). The
// front end owns its process's signals, so it can block in flock(2), which the holder's
// unlock wakes at once, bounded by a timer aimed at this thread alone.
#pragma once

#include <chrono>
#include <filesystem>

namespace chaperone {

// Waits until nobody holds an exclusive flock on `path` (a missing file counts as free), for
// at most `limit`; true if it became free. Blocks in flock(LOCK_SH); a CLOCK_MONOTONIC timer
// sends SIGALRM to the calling thread only once `limit` has passed (and every 10 ms after, so
// that a signal landing just before the flock call cannot leave it blocked), with a handler
// that does nothing, installed and unblocked for the wait and restored after. For the CLI's
// own process: a library caller may have its own use of SIGALRM. Throws system_error on
// failures other than the lock being held.
bool wait_for_lock_free(const std::filesystem::path& path, std::chrono::milliseconds limit);

} // namespace chaperone
