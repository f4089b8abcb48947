// spool/run_id.cpp: run id validation and generation.
#include "spool/run_id.hpp"

#include <cstdio>
#include <ctime>

namespace chaperone::spool {

std::optional<std::string> run_id_problem(std::string_view name) {
  if (name.empty()) {
    return "run name is empty";
  }
  if (name.size() > k_max_run_id_length) {
    return "run name is longer than " + std::to_string(k_max_run_id_length) + " bytes";
  }
  if (name.front() == '.' || name.front() == '-') {
    return "run name must not start with '" + std::string(1, name.front()) + "'";
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == '@' || c == '+' || c == '-';
    if (!ok) {
      char shown[16];
      auto byte = static_cast<unsigned char>(c);
      if (byte >= 0x21 && byte < 0x7f) {
        (void)std::snprintf(shown, sizeof shown, "'%c'", c);
      } else {
        (void)std::snprintf(shown, sizeof shown, "byte 0x%02x", byte);
      }
      return std::string("run name contains ") + shown
             + " (allowed: letters, digits and . _ @ + -)";
    }
  }
  return std::nullopt;
}

std::string make_run_id(SystemTime now, unsigned random_bits) {
  // The ISO 8601 time without its '-' and ':' separators: "20261125T192633.123456Z".
  std::string id;
  for (char c : format_utc(now)) {
    if (c != '-' && c != ':') {
      id += c;
    }
  }
  char suffix[16];
  (void)std::snprintf(suffix, sizeof suffix, "-%06x", random_bits & 0xffffffU);
  return id + suffix;
}

} // namespace chaperone::spool
