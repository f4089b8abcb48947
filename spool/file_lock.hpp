// spool/file_lock.hpp: flock(2) on a run's lock file, the supervisor's proof of life.
#pragma once

#include "spool/fd.hpp"

#include <chrono>
#include <filesystem>

namespace chaperone::spool {

// A held flock. The lock lives in the open file description, so it survives a move, an
// inheriting spawn (fd passed to the supervisor) and a rename of the directory; it is
// released when the last fd referring to the description closes, which the kernel does
// at once when the holder dies, even while it is an unreaped zombie.
class FileLock {
public:
  FileLock() = default;

  // Opens (creating, 0600) `path` close-on-exec and tries LOCK_EX|LOCK_NB. Returns an
  // empty FileLock (held() == false) if another open file description holds a lock.
  // Throws system_error naming the call and path on any other failure.
  static FileLock try_exclusive(const std::filesystem::path& path);

  // Like try_exclusive, but never makes the file: a missing one throws system_error with
  // ENOENT (for a process that must not add names to a run dir somebody is removing).
  static FileLock try_exclusive_existing(const std::filesystem::path& path);

  // Like try_exclusive, but waits for the holder to let go (EINTR retried).
  static FileLock exclusive(const std::filesystem::path& path);

  // Adopts an fd that already holds the lock (the supervisor's inherited fd 3).
  static FileLock adopt(Fd fd) {
    FileLock lock;
    lock.m_fd = std::move(fd);
    return lock;
  }

  // True if some process holds any flock on `path` (probe with LOCK_SH|LOCK_NB, released
  // at once). A missing file counts as "not held".
  static bool is_held_by_someone(const std::filesystem::path& path);

  // Waits until nobody holds an exclusive flock on `path` (a missing file counts as free),
  // for at most `limit`; true if it became free. Polls with a short backoff (20 us doubling
  // to 250 us: the supervisor's let-go after its final state takes about a millisecond, its
  // directory fsyncs, and a coarser step showed as up to half a millisecond of overshoot on
  // every attached run): meant for a holder known to be letting go, not for a long wait. Throws
  // system_error on failures other than the lock being held.
  static bool wait_until_free(const std::filesystem::path& path, std::chrono::milliseconds limit);

  bool held() const { return m_fd.valid(); }
  int fd() const { return m_fd.get(); }
  Fd release_fd() { return std::move(m_fd); }

private:
  Fd m_fd;
};

} // namespace chaperone::spool
