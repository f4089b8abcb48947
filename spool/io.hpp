// spool/io.hpp: small EINTR- and short-write-safe wrappers over read/write/open.
#pragma once

#include "spool/fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace chaperone::spool {

// Writes all of `data` to `fd`, looping on short writes and EINTR. Throws system_error
// (with `what` as context) on failure.
void write_all(int fd, std::string_view data, const std::string& what);

// Reads the whole file at `path`. Throws system_error naming the path.
std::string read_file(const std::filesystem::path& path);

// Opens `path` with O_CLOEXEC added. Throws system_error naming the call and path.
Fd open_or_throw(const std::filesystem::path& path, int flags, mode_t mode = 0600);

// fstat(fd).st_size; throws naming `what`.
std::uint64_t file_size(int fd, const std::string& what);

// fsync(fd); throws naming `what`.
void fsync_or_throw(int fd, const std::string& what);

// Opens the directory and fsyncs it, so a rename or creation inside it is durable.
void fsync_directory(const std::filesystem::path& dir);

} // namespace chaperone::spool
