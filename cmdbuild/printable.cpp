// cmdbuild/printable.cpp: escaping for error messages (the project's only one; spool uses it).
#include "cmdbuild/printable.hpp"

namespace chaperone::cmdbuild {

std::string printable(std::string_view value) {
  static constexpr char k_hex[] = "0123456789abcdef";
  static constexpr std::size_t k_max_input = 200;
  std::string out;
  for (char c : value.substr(0, k_max_input)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      out.append("\\x").push_back(k_hex[byte >> 4]);
      out.push_back(k_hex[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  if (value.size() > k_max_input) {
    out += "...";
  }
  return out;
}

} // namespace chaperone::cmdbuild
