// spool/host.cpp: boot id, process start times and UTC timestamps.
#include "spool/host.hpp"

#include "spool/io.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <system_error>

namespace chaperone::spool {

namespace {

std::string read_boot_id() {
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

} // namespace

Fd open_pidfd(pid_t pid) {
  // glibc 2.36's <sys/pidfd.h> lacks extern "C"; the raw syscall avoids the header.
  return Fd{static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
}

Fd open_recorded_pidfd(pid_t pid, std::optional<std::uint64_t> start_ticks) {
  Fd pidfd = open_pidfd(pid);
  if (pidfd.valid() && start_ticks && process_start_ticks(pid) != start_ticks) {
    return Fd{};
  }
  return pidfd;
}

std::string boot_id() {
  // Read once a process: a boot outlives every process, and a launch asks twice (the front
  // end for the starting state, then its in-image supervisor, a copy of it that keeps this).
  static const std::string id = read_boot_id();
  return id;
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

UtcFields utc_fields(SystemTime time) {
  using namespace std::chrono;
  auto micros = floor<microseconds>(time);
  auto day = floor<days>(micros);
  year_month_day date{day};
  hh_mm_ss<microseconds> clock{micros - day};
  UtcFields fields;
  fields.year = static_cast<int>(date.year());
  fields.month = static_cast<unsigned>(date.month());
  fields.day = static_cast<unsigned>(date.day());
  fields.hour = static_cast<int>(clock.hours().count());
  fields.minute = static_cast<int>(clock.minutes().count());
  fields.second = static_cast<int>(clock.seconds().count());
  fields.micros = static_cast<long long>(clock.subseconds().count());
  return fields;
}

std::string format_utc(SystemTime time) {
  UtcFields utc = utc_fields(time);
  char buffer[64];
  (void)std::snprintf(buffer,
                      sizeof buffer,
                      "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                      utc.year,
                      utc.month,
                      utc.day,
                      utc.hour,
                      utc.minute,
                      utc.second,
                      utc.micros);
  return buffer;
}

std::optional<SystemTime> parse_utc(const std::string& text) {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  long long micros = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(),
                  "%4d-%2d-%2dT%2d:%2d:%2d.%6lldZ%n",
                  &year,
                  &month,
                  &day,
                  &hour,
                  &minute,
                  &second,
                  &micros,
                  &consumed)
          != 7
      || static_cast<size_t>(consumed) != text.size()) {
    return std::nullopt;
  }
  // Out-of-range fields carry over as timegm() would have them: month 13 is January of the
  // next year, day 32 the first of the next month, second 60 the next minute.
  using namespace std::chrono;
  // year_month + months carries over whole years, either way.
  sys_days first_of_month =
      (std::chrono::year{year} / std::chrono::January + std::chrono::months{month - 1}) / 1;
  return SystemTime(first_of_month) + days{day - 1} + hours{hour} + minutes{minute}
         + seconds{second} + microseconds{micros};
}

} // namespace chaperone::spool
