// chaperone/byte_size.cpp: byte counts with binary suffixes.
#include "chaperone/cli/byte_size.hpp"

#include <cctype>

namespace chaperone {

std::optional<std::uint64_t> parse_byte_size(const std::string& text) {
  size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) {
    return std::nullopt;
  }
  std::string suffix = text.substr(i);
  if (suffix.size() == 3 && (suffix.substr(1) == "iB" || suffix.substr(1) == "ib")) {
    suffix = suffix.substr(0, 1);
  }
  int shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "K" || suffix == "k") {
    shift = 10;
  } else if (suffix == "M" || suffix == "m") {
    shift = 20;
  } else if (suffix == "G" || suffix == "g") {
    shift = 30;
  } else if (suffix == "T" || suffix == "t") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    return std::nullopt;
  }
  return value << shift;
}

} // namespace chaperone
