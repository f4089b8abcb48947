// spool/file_lock.cpp: flock-based liveness.
#include "spool/file_lock.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace chaperone::spool {

namespace {

// flock with EINTR retry; returns false on EWOULDBLOCK, throws otherwise.
bool try_flock(int fd, int operation, const std::filesystem::path& path) {
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) {
      return true;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EWOULDBLOCK) {
      return false;
    }
    throw_errno("flock " + path.string());
  }
}

} // namespace

namespace {

FileLock try_exclusive_opened(const std::filesystem::path& path, int flags) {
  Fd fd{::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | flags, 0600)};
  if (!fd.valid()) {
    throw_errno("open " + path.string());
  }
  if (!try_flock(fd.get(), LOCK_EX, path)) {
    return {};
  }
  return FileLock::adopt(std::move(fd));
}

} // namespace

FileLock FileLock::try_exclusive(const std::filesystem::path& path) {
  return try_exclusive_opened(path, O_CREAT);
}

FileLock FileLock::try_exclusive_existing(const std::filesystem::path& path) {
  return try_exclusive_opened(path, 0);
}

FileLock FileLock::exclusive(const std::filesystem::path& path) {
  Fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid()) {
    throw_errno("open " + path.string());
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      throw_errno("flock " + path.string());
    }
  }
  FileLock lock;
  lock.m_fd = std::move(fd);
  return lock;
}

bool FileLock::is_held_by_someone(const std::filesystem::path& path) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return false;
    }
    throw_errno("open " + path.string());
  }
  // A shared probe never blocks another prober, only fails against the holder's LOCK_EX.
  return !try_flock(fd.get(), LOCK_SH, path);
}

bool FileLock::wait_until_free(const std::filesystem::path& path, std::chrono::milliseconds limit) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return true;
    }
    throw_errno("open " + path.string());
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::chrono::microseconds pause{20};
  while (!try_flock(fd.get(), LOCK_SH, path)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    timespec ts{0, static_cast<long>(pause.count()) * 1000};
    (void)::nanosleep(&ts, nullptr); // EINTR: just look again
    pause = std::min(pause * 2, std::chrono::microseconds{250});
  }
  return true; // the shared probe is released when fd closes
}

} // namespace chaperone::spool
