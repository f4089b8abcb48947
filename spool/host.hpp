// spool/host.hpp: facts about this host and its processes that make a pid unambiguous.
#pragma once

#include "spool/fd.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace chaperone::spool {

// /proc/sys/kernel/random/boot_id without the newline (read once a process); empty if
// unreadable. A pid recorded under another boot id belongs to a process that no longer
// exists.
std::string boot_id();

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or nullopt if the
// process does not exist. Together with the boot id it tells a reused pid apart.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// pidfd_open(2) of PID (close-on-exec); invalid, errno set, if it cannot be had. The fd pins
// the process it was opened on: a pid checked after the open cannot be reused in between.
Fd open_pidfd(pid_t pid);

// A pidfd of the process a state recorded (PID, and its start time when recorded), or an
// invalid Fd if that process is gone: opened first, then its start time compared, so a
// match cannot belong to a pid reused in between.
Fd open_recorded_pidfd(pid_t pid, std::optional<std::uint64_t> start_ticks);

using SystemTime = std::chrono::system_clock::time_point;

// A time's UTC calendar fields, by arithmetic alone. glibc's gmtime_r() and timegm() load
// the local time zone (/etc/localtime: seven syscalls) the first time, in every process,
// although a UTC time never needs it.
struct UtcFields {
  int year = 1970;
  unsigned month = 1; // 1-12
  unsigned day = 1;   // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  long long micros = 0; // 0-999999
};
UtcFields utc_fields(SystemTime time);

// ISO 8601 UTC with microseconds: "2026-11-25T19:26:33.123456Z".
std::string format_utc(SystemTime time);

// Inverse of format_utc; nullopt if `text` is not in that form.
std::optional<SystemTime> parse_utc(const std::string& text);

} // namespace chaperone::spool
