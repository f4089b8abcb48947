// chaperone/supervisor/hand_off.hpp: the supervisor's swap into chaperone-hold, the small
// image that waits in its place while the program runs, and the way back.
//
// A supervisor lives as long as its program, one per run, and the pages its start-up left
// behind (heap garbage, the libuv loop's stack frame, .data and .bss that init touched) are
// paid per run for the run's whole life (docs/bench/MEMORY-2026-12-03.md). Once a local run
// has settled, there is nothing to do until a signal comes (the program's SIGCHLD, a
// forwarded SIGTERM or SIGINT) or the --timeout is due. So the supervisor execve()s
// chaperone-hold (hold_main.cpp), which waits for exactly that with those signals blocked,
// takes none of them, and execs the supervisor binary back with `--resume`. The process
// stays the same: its pid, its children (the program, whose PDEATHSIG is tied to this
// process), PR_SET_CHILD_SUBREAPER, the run's lock and the gate's locks on the fds kept open,
// and the pending signals, which survive an execve while blocked.
#pragma once

#include "chaperone/supervisor/supervisor.hpp"
#include "spool/fd.hpp"
#include "spool/release_later.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace chaperone {

// The two images, opened O_PATH when the supervisor starts: our own binary (from
// /proc/self/exe, so that an upgrade that replaces the file cannot bring back a different
// version) and chaperone-hold beside it.
struct HoldImages {
  spool::Fd supervisor;
  spool::Fd hold;
  bool valid() const { return supervisor.valid() && hold.valid(); }
};

// Opens both images. One that cannot be opened (no chaperone-hold installed beside the
// supervisor) leaves its Fd invalid: the supervisor then never hands off. Never throws.
// `supervisor_binary`: the chaperone-supervisor to resume into when we run in another
// binary's image (forked from the front end without exec); empty: ourselves.
HoldImages open_hold_images(const std::string& supervisor_binary = {}) noexcept;

// What a supervisor coming back from the hold image needs beyond its usual arguments.
struct ResumePoint {
  int supervisor_fd = -1; // the images, adopted again for the next hand-off
  int hold_fd = -1;
  std::vector<int> held_fds; // the gate's lock and ticket fds (GateResult::held)
  // The --timeout's end on CLOCK_MONOTONIC; past already, it fires at once.
  std::optional<std::int64_t> deadline_ns;
  spool::ReleaseLater::Position release;
};

// Removes "--resume N WORD..." (N words of KEY=VALUE) from right after RUN_DIR in the
// supervisor's arguments, if there: RUN_DIR stays argv[1] for anyone looking for a run's
// supervisor. Throws std::invalid_argument naming the bad word.
std::optional<ResumePoint> take_resume_args(std::vector<std::string>& args);

// The inverse: the words take_resume_args() removes.
std::vector<std::string> resume_args(const ResumePoint& point);

// CLOCK_MONOTONIC now, in nanoseconds: the clock of ResumePoint::deadline_ns.
std::int64_t monotonic_ns() noexcept;

// Blocks (or unblocks) SIGCHLD, SIGTERM and SIGINT: the supervisor's loop signals. Blocked,
// they stay pending across the execve()s to chaperone-hold and back, until the resumed
// supervisor's handlers are in place.
void block_loop_signals(bool block) noexcept;

// What the hand-off passes on besides the supervisor's own arguments.
struct HandOff {
  std::vector<int> keep_fds; // made inheritable for the two execs: the locks
  pid_t program_pgid = -1;   // chaperone-hold SIGKILLs it if it cannot exec back
  std::filesystem::path log; // where chaperone-hold says so
  std::optional<std::int64_t> deadline_ns;
  // The full argv of the supervisor to exec back to, argv[0] included.
  std::vector<std::string> supervisor_argv;
};

// Replaces this process by chaperone-hold. The loop signals must be blocked already. Returns
// only if the exec failed, with the reason; the fds are close-on-exec again then.
std::string exec_hold(const HoldImages& images, const HandOff& hand_off);

// supervisor.cpp: supervise() for a supervisor that comes back from the hold image: the run
// is rebuilt from state.json instead of started.
int resume_supervision(const SupervisorOptions& options,
                       const ResumePoint& point,
                       const std::shared_ptr<spdlog::logger>& logger);

} // namespace chaperone
