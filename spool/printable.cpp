// spool/printable.cpp: escaping for error messages.
#include "spool/printable.hpp"

#include <cstdio>

namespace chaperone::spool {

std::string printable(std::string_view text) {
  std::string out;
  bool cut = text.size() > 200;
  for (char c : text.substr(0, 200)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      char escaped[8];
      (void)std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  if (cut) {
    out += "...";
  }
  return out;
}

} // namespace chaperone::spool
