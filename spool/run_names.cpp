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
  // One read of the whole file (3 MB at 100,000 runs).
  std::optional<std::string> read = read_regular_file(root.path() / k_names_file);
  if (!read) {
    return std::nullopt;
  }
  const std::string& text = *read;
  if (text.compare(0, k_header.size(), k_header) != 0) {
    return std::nullopt;
  }
  Fd root_fd{::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!root_fd.valid()) {
    return std::nullopt;
  }
  std::vector<std::string> found;
  // Only the lines that start with the prefix are looked at: a search for "\nPREFIX" runs at
  // memchr speed over the 3 MB of a 100,000-run spool.
  std::string needle = "\n" + prefix;
  std::string_view all = text;
  for (size_t at = all.find(needle, k_header.size() - 1); at != std::string_view::npos;
       at = all.find(needle, at + 1)) {
    size_t end = all.find('\n', at + 1);
    if (end == std::string_view::npos) {
      break; // a torn last line: that run was not published yet when it was cut
    }
    std::string_view id = all.substr(at + 1, end - at - 1);
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
        break; // ambiguous: the caller's readdir lists them all
      }
    }
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
