// cmdbuild/printable.cpp: escaping for error messages.
#include "cmdbuild/printable.hpp"

namespace chaperone::cmdbuild {

std::string printable(std::string_view value) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      out.append("\\x").push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

} // namespace chaperone::cmdbuild
