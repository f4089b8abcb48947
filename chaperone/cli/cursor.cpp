// chaperone/cli/cursor.cpp: formatting and parsing STDOUT:STDERR cursors.
#include "chaperone/cli/cursor.hpp"

#include <charconv>

namespace chaperone {

namespace {

// A whole decimal number (no sign, no spaces, no trailing bytes) that fits in 64 bits.
std::optional<std::uint64_t> parse_offset(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) {
    return std::nullopt;
  }
  return value;
}

} // namespace

std::string format_cursor(const Cursor& cursor) {
  return std::to_string(cursor.stdout_offset) + ":" + std::to_string(cursor.stderr_offset);
}

std::optional<Cursor> parse_cursor(const std::string& text) {
  size_t colon = text.find(':');
  if (colon == std::string::npos) {
    std::optional<std::uint64_t> only = parse_offset(text);
    if (only && *only == 0) {
      return Cursor{};
    }
    return std::nullopt;
  }
  auto out = parse_offset(text.substr(0, colon));
  auto err = parse_offset(text.substr(colon + 1));
  if (!out || !err) {
    return std::nullopt;
  }
  return Cursor{*out, *err};
}

std::optional<std::string> cursor_problem(const std::string& text) {
  if (parse_cursor(text)) {
    return std::nullopt;
  }
  if (text.find(':') == std::string::npos && parse_offset(text)) {
    return "one number would start both streams at byte " + text
           + " and skip output of a stream that is shorter; give the cursor STDOUT:STDERR "
             "that `chaperone status` prints (e.g. "
           + text + ":0), or --stdout-offset and --stderr-offset";
  }
  return "expected a cursor STDOUT:STDERR (byte offsets, as `chaperone status` prints it, e.g. "
         "7680:12), or 0";
}

} // namespace chaperone
