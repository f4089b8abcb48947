// spool/io.cpp: EINTR- and short-write-safe I/O helpers.
#include "spool/io.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace chaperone::spool {

void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string read_file(const std::filesystem::path& path) {
  Fd fd = open_or_throw(path, O_RDONLY);
  // No 64 KiB stack buffer: one cost every supervisor a stack page for its whole life (the
  // page read(2) wrote stays resident). A regular file is read straight into the string, its
  // size a hint only (it may grow or shrink meanwhile); /proc files report size 0 and are
  // small: a small buffer, so the string is allocated once at its final size.
  struct stat st {};
  std::size_t hint =
      ::fstat(fd.get(), &st) == 0 && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
  std::string out;
  char small[512];
  for (;;) {
    std::size_t have = out.size();
    std::size_t want = hint > 0 ? std::max(hint + 1 - std::min(hint, have), have) : 0;
    char* into = small;
    if (want > 0) {
      out.resize(have + want);
      into = out.data() + have;
    } else {
      want = sizeof small;
    }
    ssize_t n = ::read(fd.get(), into, want);
    if (hint > 0) {
      out.resize(have + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("read " + path.string());
    }
    if (n == 0) {
      return out;
    }
    if (hint == 0) {
      out.append(small, static_cast<std::size_t>(n));
    }
  }
}

Fd open_or_throw(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    throw_errno("open " + path.string());
  }
  return Fd{fd};
}

std::uint64_t file_size(int fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw_errno("fstat " + what);
  }
  return static_cast<std::uint64_t>(st.st_size);
}

void fsync_or_throw(int fd, const std::string& what) {
  if (::fsync(fd) != 0) {
    throw_errno("fsync " + what);
  }
}

void fsync_directory(const std::filesystem::path& dir) {
  Fd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  fsync_or_throw(fd.get(), dir.string());
}

} // namespace chaperone::spool
