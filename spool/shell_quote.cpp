// spool/shell_quote.cpp: quoting argv for display, so that `ls` shows `sh -c 'echo $A'`
// and not the ambiguous `sh -c echo $A`.
#include "spool/shell_quote.hpp"

#include <cstdio>

namespace chaperone::spool {

namespace {

bool is_plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
         || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '@' || c == '+'
         || c == '%';
}

bool needs_escapes(unsigned char c) {
  return c < 0x20 || c >= 0x7f;
}

} // namespace

std::string shell_quote(const std::string& word) {
  bool plain = !word.empty();
  bool escapes = false;
  for (unsigned char c : word) {
    plain = plain && is_plain(c);
    escapes = escapes || needs_escapes(c);
  }
  // '=' is not plain: a first word `A=1` would be read as an assignment.
  if (plain) {
    return word;
  }
  if (!escapes) {
    std::string quoted = "'";
    for (char c : word) {
      quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
  }
  std::string quoted = "$'";
  for (unsigned char c : word) {
    if (c == '\'' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (needs_escapes(c)) {
      char hex[8];
      (void)std::snprintf(hex, sizeof hex, "\\x%02x", c);
      quoted += hex;
    } else {
      quoted += static_cast<char>(c);
    }
  }
  return quoted + "'";
}

std::string shell_command_line(const nlohmann::json& argv, size_t limit) {
  std::string line;
  if (!argv.is_array()) {
    return line;
  }
  for (const auto& word : argv) {
    if (line.size() >= limit) {
      return line + " ...";
    }
    if (!line.empty()) {
      line += ' ';
    }
    line += word.is_string() ? shell_quote(word.get<std::string>()) : std::string("?");
  }
  return line;
}

} // namespace chaperone::spool
