// spool/io.cpp: EINTR- and short-write-safe I/O helpers.
#include "spool/io.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
  std::string out;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("read " + path.string());
    }
    if (n == 0) {
      return out;
    }
    out.append(buffer, static_cast<size_t>(n));
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
