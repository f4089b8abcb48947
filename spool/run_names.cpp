// spool/run_names.cpp: see run_names.hpp.
#include "spool/run_names.hpp"

#include "spool/atomic_file.hpp"
#include "spool/fd.hpp"
#include "spool/io.hpp"
#include "spool/run_list.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

namespace chaperone::spool {

namespace {

constexpr std::string_view k_header = "chaperone-names 1\n";

// flock with EINTR retry; false if it could not be taken.
bool lock_root(const Fd& root, int operation) noexcept {
  if (!root.valid()) {
    return false;
  }
  while (::flock(root.get(), operation) != 0) {
    if (errno != EINTR) {
      return false;
    }
  }
  return true;
}

} // namespace

NamesPublishLock::NamesPublishLock(const std::filesystem::path& root) noexcept
    : m_root(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  (void)lock_root(m_root, LOCK_SH);
}

void note_run_name(const std::filesystem::path& root, const std::string& run_id) noexcept {
  try {
    Fd fd{::open((root / k_names_file).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW)};
    if (!fd.valid()) {
      return; // no file: this spool is small, or it is rebuilt at the next prefix lookup
    }
    std::string line = run_id + "\n";
    ssize_t n;
    do {
      n = ::write(fd.get(), line.data(), line.size()); // O_APPEND: lines never interleave
    } while (n < 0 && errno == EINTR);
  } catch (...) {
    // Only a cache.
  }
}

std::optional<std::vector<std::string>> names_with_prefix(const SpoolRoot& root,
                                                          const std::string& prefix) {
  Fd fd{::open((root.path() / k_names_file).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  struct stat file_st {};
  if (!fd.valid() || ::fstat(fd.get(), &file_st) != 0 || !S_ISREG(file_st.st_mode)) {
    return std::nullopt;
  }
  Fd root_fd{::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!root_fd.valid()) {
    return std::nullopt;
  }
  // The file is 3 MB at 100,000 runs. Read whole into one string, its pages cost more than the
  // search (a fault each, and zeroing); so it is read in slices through one buffer, and only
  // the lines that start with the prefix are looked at: memmem() for "\nPREFIX". Each slice
  // is searched from the last newline of the one before (carried over), so a line cut by a
  // slice boundary is seen whole in the next.
  constexpr size_t k_slice = size_t{256} * 1024;
  const std::string needle = "\n" + prefix;
  // Not a std::string: growing one zero-fills what read(2) then overwrites.
  std::size_t capacity = 2 * k_slice;
  std::unique_ptr<char[]> window = std::make_unique_for_overwrite<char[]>(capacity);
  std::size_t used = 0;
  std::vector<std::string> found;
  bool header_checked = false;
  for (;;) {
    if (capacity - used < k_slice) { // a line longer than a slice: room for it and more
      capacity = 2 * (used + k_slice);
      std::unique_ptr<char[]> bigger = std::make_unique_for_overwrite<char[]>(capacity);
      std::memcpy(bigger.get(), window.get(), used);
      window = std::move(bigger);
    }
    ssize_t n;
    do {
      n = ::read(fd.get(), window.get() + used, k_slice);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      return std::nullopt;
    }
    used += static_cast<size_t>(n);
    if (!header_checked) {
      if (used < k_header.size() && n > 0) {
        continue; // a short read: the header is not whole yet
      }
      if (std::string_view(window.get(), used).compare(0, k_header.size(), k_header) != 0) {
        return std::nullopt;
      }
      header_checked = true;
      // Keep the header's newline: line one matches too.
      std::size_t skip = k_header.size() - 1;
      std::memmove(window.get(), window.get() + skip, used - skip);
      used -= skip;
    }
    // Lines ending in this window; the rest (from the last newline on) waits for more.
    const void* newline = ::memrchr(window.get(), '\n', used);
    if (newline == nullptr) {
      if (n == 0) {
        break;
      }
      continue;
    }
    const char* begin = window.get();
    const char* end = static_cast<const char*>(newline) + 1;
    for (const char* at = begin; at < end;) {
      const void* hit = ::memmem(at, static_cast<size_t>(end - at), needle.data(), needle.size());
      if (hit == nullptr) {
        break;
      }
      const char* id_begin = static_cast<const char*>(hit) + 1;
      const char* id_end = static_cast<const char*>(
          std::memchr(id_begin, '\n', static_cast<size_t>(end - id_begin)));
      if (id_end == nullptr) {
        break; // the line goes on past the window: it is searched again with the carry
      }
      at = id_end;
      std::string_view id(id_begin, static_cast<size_t>(id_end - id_begin));
      if (id.empty() || id[0] == '.' || id.find('/') != std::string_view::npos) {
        continue;
      }
      std::string name(id);
      if (std::find(found.begin(), found.end(), name) != found.end()) {
        continue;
      }
      struct stat st {};
      if (::fstatat(root_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR(st.st_mode)) {
        found.push_back(std::move(name));
        if (found.size() > 1) {
          return found; // ambiguous: the caller's readdir lists them all
        }
      }
    }
    if (n == 0) {
      break; // what is left has no newline after it: a torn last line, not published yet
    }
    std::size_t carry = used - static_cast<std::size_t>(end - 1 - begin);
    std::memmove(window.get(), end - 1, carry);
    used = carry;
  }
  return found;
}

void rewrite_names(const SpoolRoot& root) noexcept {
  try {
    Fd root_fd{::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!lock_root(root_fd, LOCK_EX)) {
      return;
    }
    std::vector<std::string> ids = list_run_ids(root); // every run made visible so far
    std::filesystem::path path = root.path() / k_names_file;
    if (ids.size() < k_names_min_runs) {
      (void)::unlink(path.c_str());
      return;
    }
    std::string text(k_header);
    for (const std::string& id : ids) {
      text += id;
      text += '\n';
    }
    write_file_atomically(path, text, Durability::atomic_only);
  } catch (...) {
    // Only a cache: a read-only spool has none.
  }
}

} // namespace chaperone::spool
