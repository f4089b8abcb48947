// spool/error.hpp: the one way this project reports a failed system call.
#pragma once

#include <string>

namespace chaperone::spool {

// Throws std::system_error carrying the current errno, with what() reading
// "<context>: <strerror(errno)>", e.g. "open /r/state.json: No such file or directory".
[[noreturn]] void throw_errno(const std::string& context);

// As throw_errno, for an error number returned rather than left in errno (posix_spawn,
// libuv's -errno results).
[[noreturn]] void throw_error_code(int error_number, const std::string& context);

} // namespace chaperone::spool
