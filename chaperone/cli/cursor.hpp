// chaperone/cli/cursor.hpp: a resume point in a run's output, one byte offset per stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chaperone {

// "STDOUT:STDERR", e.g. "7680:12": what `status` prints and `attach --from-offset` takes.
// Offsets are per stream (DESIGN.md): one number for both would skip bytes of a stream
// whose length differs.
struct Cursor {
  std::uint64_t stdout_offset = 0;
  std::uint64_t stderr_offset = 0;
};

// "7680:12".
std::string format_cursor(const Cursor& cursor);

// What is wrong with `text` as a cursor, or nullopt if it is one. Accepted: two decimal
// byte offsets joined by ':', or a lone "0" (both streams from the start). Any other lone
// number is refused: it does not say which stream it counts.
std::optional<std::string> cursor_problem(const std::string& text);

// The cursor `text` names, or nullopt if cursor_problem(text) has a problem.
std::optional<Cursor> parse_cursor(const std::string& text);

} // namespace chaperone
