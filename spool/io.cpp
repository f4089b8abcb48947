// spool/io.cpp: EINTR- and short-write-safe I/O helpers.
#include "spool/io.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <exception>
#include <system_error>
#include <thread>

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

std::optional<std::string> read_regular_file(const std::filesystem::path& path) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t have = 0;
  while (have < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    have += static_cast<size_t>(n);
  }
  text.resize(have);
  return text;
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

void fsync_together(const std::vector<SyncTarget>& targets) {
  std::vector<std::exception_ptr> errors(targets.size());
  auto sync_one = [&](size_t i) {
    try {
      fsync_or_throw(targets[i].fd, targets[i].what);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  std::vector<size_t> inline_targets{0};
  if (targets.size() > 1) {
    // The helpers take no signals: a handler (libuv's, in the supervisor) must run on the
    // thread that expects it, and nothing here would act on one.
    sigset_t all;
    sigset_t saved;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved);
    helpers.reserve(targets.size() - 1);
    for (size_t i = 1; i < targets.size(); ++i) {
      try {
        helpers.emplace_back(sync_one, i);
      } catch (const std::system_error&) {
        inline_targets.push_back(i); // no thread to be had: the same fsync, only not at once
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  }
  for (size_t i : inline_targets) {
    if (i < targets.size()) {
      sync_one(i);
    }
  }
  for (std::thread& helper : helpers) {
    helper.join();
  }
  for (const std::exception_ptr& error : errors) {
    if (error) {
      std::rethrow_exception(error);
    }
  }
}

} // namespace chaperone::spool
