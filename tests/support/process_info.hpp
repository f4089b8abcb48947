// tests/support/process_info.hpp: looking at processes from outside, through /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace chaperone::test {

// Field 22 of /proc/PID/stat (start time in clock ticks), or nullopt if there is no such pid.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// True if `pid` names a live process (not a zombie) and, when `start_ticks` is given, the
// same one that was started then (so a reused pid does not count). kill(pid, 0) is not
// enough: it succeeds on zombies, which init here reaps up to 2 s late.
bool process_running(pid_t pid, std::optional<std::uint64_t> start_ticks = std::nullopt);

} // namespace chaperone::test
