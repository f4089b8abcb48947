// spool/reader_mark.cpp: see reader_mark.hpp.
#include "spool/reader_mark.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

namespace chaperone::spool {

FileLock mark_as_reader(const RunDir& run) noexcept {
  Fd fd{
      ::open(run.file(k_readers_file).c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid()) {
    return {};
  }
  while (::flock(fd.get(), LOCK_SH) != 0) {
    if (errno != EINTR) {
      return {};
    }
  }
  return FileLock::adopt(std::move(fd));
}

FileLock try_mark_for_removal(const RunDir& run) {
  Fd fd{
      ::open(run.file(k_readers_file).c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid()) {
    throw_errno("open " + run.file(k_readers_file).string());
  }
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      return FileLock::adopt(std::move(fd));
    }
    if (errno == EWOULDBLOCK) {
      return {};
    }
    if (errno != EINTR) {
      throw_errno("flock " + run.file(k_readers_file).string());
    }
  }
}

} // namespace chaperone::spool
