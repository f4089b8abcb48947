// spool/host.cpp: boot id, process start times and UTC timestamps.
#include "spool/host.hpp"

#include "spool/io.hpp"

#include <cstdio>
#include <ctime>
#include <string>
#include <system_error>

namespace chaperone::spool {

std::string boot_id() {
  try {
    std::string id = read_file("/proc/sys/kernel/random/boot_id");
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) {
      id.pop_back();
    }
    return id;
  } catch (const std::system_error&) {
    return {};
  }
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::system_error&) {
    return std::nullopt;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or ')': fields
  // are counted from the last ')'.
  size_t pos = stat.rfind(')');
  if (pos == std::string::npos) {
    return std::nullopt;
  }
  // After ") " comes field 3 (state); field 22 is 19 fields further.
  size_t field = 2;
  size_t i = pos + 1;
  while (i < stat.size() && field < 22) {
    if (stat[i] == ' ') {
      ++field;
    }
    ++i;
  }
  if (field != 22) {
    return std::nullopt;
  }
  return std::strtoull(stat.c_str() + i, nullptr, 10);
}

std::string format_utc(SystemTime time) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch());
  auto seconds = std::chrono::floor<std::chrono::seconds>(micros);
  auto t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  (void)::gmtime_r(&t, &tm);
  char buffer[64];
  (void)std::snprintf(buffer,
                      sizeof buffer,
                      "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                      tm.tm_year + 1900,
                      tm.tm_mon + 1,
                      tm.tm_mday,
                      tm.tm_hour,
                      tm.tm_min,
                      tm.tm_sec,
                      static_cast<long long>((micros - seconds).count()));
  return buffer;
}

std::optional<SystemTime> parse_utc(const std::string& text) {
  std::tm tm{};
  long long micros = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(),
                  "%4d-%2d-%2dT%2d:%2d:%2d.%6lldZ%n",
                  &tm.tm_year,
                  &tm.tm_mon,
                  &tm.tm_mday,
                  &tm.tm_hour,
                  &tm.tm_min,
                  &tm.tm_sec,
                  &micros,
                  &consumed)
          != 7
      || static_cast<size_t>(consumed) != text.size()) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = ::timegm(&tm);
  return SystemTime(std::chrono::seconds(t)) + std::chrono::microseconds(micros);
}

} // namespace chaperone::spool
