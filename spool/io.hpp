// spool/io.hpp: small EINTR- and short-write-safe wrappers over read/write/open.
#pragma once

#include "spool/fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::spool {

// Writes all of `data` to `fd`, looping on short writes and EINTR. Throws system_error
// (with `what` as context) on failure.
void write_all(int fd, std::string_view data, const std::string& what);

// Reads the whole file at `path`. Throws system_error naming the path.
std::string read_file(const std::filesystem::path& path);

// A cache file read whole (O_NOFOLLOW, one read at its size, no growing and copying), or
// nullopt if it is missing, not a regular file or cannot be opened. A file that shrinks
// meanwhile, or a read error, ends the text where the read stopped: the caches built on it
// (.index.jsonl, .names) check what they parse.
std::optional<std::string> read_regular_file(const std::filesystem::path& path);

// Opens `path` with O_CLOEXEC added. Throws system_error naming the call and path.
Fd open_or_throw(const std::filesystem::path& path, int flags, mode_t mode = 0600);

// fstat(fd).st_size; throws naming `what`.
std::uint64_t file_size(int fd, const std::string& what);

// fsync(fd); throws naming `what`.
void fsync_or_throw(int fd, const std::string& what);

// Opens the directory and fsyncs it, so a rename or creation inside it is durable.
void fsync_directory(const std::filesystem::path& dir);

struct SyncTarget {
  int fd;
  std::string what; // for the error message
};

// fsync()s every target at once: the first on the caller's thread, each other one on a
// short-lived thread of its own. On ext4 fsyncs that overlap share one journal commit,
// where one after the other cost a commit or a device cache flush each (the final state
// needs two files and two directories durable: two waits instead of four). If a thread
// cannot be started that target is synced on the caller's thread instead. Returns once
// all are done; throws std::system_error for the first that failed, naming its `what`.
void fsync_together(const std::vector<SyncTarget>& targets);

} // namespace chaperone::spool
