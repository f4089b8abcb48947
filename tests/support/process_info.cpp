// tests/support/process_info.cpp: /proc/PID/stat parsing.
#include "tests/support/process_info.hpp"

#include <fstream>
#include <sstream>
#include <string>

namespace chaperone::test {

namespace {

// The fields after "(comm)": the command name may hold spaces and parentheses, so split
// after the last ')'. Returns false if the process does not exist.
bool read_stat_fields(pid_t pid, char& state, std::uint64_t& start_ticks) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) {
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) {
    return false;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  // Field 3 is the state; field 22 the start time (fields numbered from 1, comm is 2).
  for (int number = 3; number <= 22 && fields >> field; ++number) {
    if (number == 3) {
      state = field.empty() ? '?' : field[0];
    }
    if (number == 22) {
      start_ticks = std::stoull(field);
      return true;
    }
  }
  return false;
}

} // namespace

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  char state = '?';
  std::uint64_t ticks = 0;
  if (!read_stat_fields(pid, state, ticks)) {
    return std::nullopt;
  }
  return ticks;
}

bool process_running(pid_t pid, std::optional<std::uint64_t> start_ticks) {
  char state = '?';
  std::uint64_t ticks = 0;
  if (pid <= 0 || !read_stat_fields(pid, state, ticks)) {
    return false;
  }
  if (state == 'Z' || state == 'X') {
    return false;
  }
  return !start_ticks || *start_ticks == ticks;
}

} // namespace chaperone::test
