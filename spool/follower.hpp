// spool/follower.hpp: streams a run's output from given offsets until the run is final.
#pragma once

#include "spool/output_sink.hpp"
#include "spool/run_dir.hpp"
#include "spool/state.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace spdlog {
class logger;
}

namespace chaperone::spool {

struct FollowOptions {
  bool want_stdout = true;
  bool want_stderr = true;
  std::uint64_t stdout_offset = 0;
  std::uint64_t stderr_offset = 0;
  // false: deliver what is there now and return (tail without -f).
  bool follow = true;
  // Stop as soon as a state read satisfies this (e.g. "no longer starting").
  std::function<bool(const RunState&)> until;
  // Called with every state read (before the output it announces is delivered, and before
  // `until`), e.g. to report state changes as events.
  std::function<void(const RunState&)> on_state;
  // Give up following after this long; run() then returns the (non-final) state it last read.
  std::optional<std::chrono::milliseconds> timeout;
  // Signals to receive while following (as loop events, not raw handlers); on_signal runs
  // in the follower's thread and may call Follower::stop().
  std::vector<int> signals;
  std::function<void(int)> on_signal;
  // Used for the one warning when inotify is unavailable and we fall back to polling.
  std::shared_ptr<spdlog::logger> logger;
  // An inotify instance to add this follower's watch to instead of a new one (borrowed: the
  // caller closes it after run()); run() removes its watch before it returns. For a reader
  // that shares the instance with a process that outlives it: the last close of an inotify
  // instance waits for the kernel's mark reaper (an SRCU grace period, 15 ms and more on a
  // busy machine), and the process that closes it last pays that on its way out.
  int inotify_fd = -1;
  // A pidfd of the run's supervisor (borrowed, as inotify_fd), from a caller that started it
  // as its own child and opened this before the run was visible: such a pid cannot have been
  // reused, so the follower watches that supervisor from its first look, instead of opening a
  // pidfd once state.json names the supervisor, checking its start time in /proc and looking
  // at the lock again. Should another supervisor take the run over, the follower finds that
  // one through state.json as usual.
  int supervisor_pidfd = -1;
};

// Follows one run through an inotify watch on its directory (a raw inotify fd in the libuv
// loop, asking only for what it acts on: a rename of state.json re-reads the state) and, for
// each stream it delivers, a one-shot IN_MODIFY watch on the stream's file: the first append
// wakes it and goes out at once; it then delivers until it has caught up, looking again 1 ms
// later while output keeps coming in small amounts (the appends meanwhile raise no event,
// which a program writing small lines would pay for), and asks for the next append once a
// look finds nothing (spool/follower.cpp, catch_up). A follower that delivers no output never
// wakes for appends, and a quiet run wakes no follower. It subscribes before it reads, so no
// write falls between. The supervisor's liveness is watched with a pidfd, so its death is
// noticed at once and the run is reported `lost` (RunDir::read_state_resolving_lost). If
// inotify cannot be had (instance or watch limits), it warns once and rechecks every 100 ms.
class Follower {
public:
  Follower(RunDir run, FollowOptions options, OutputSink& sink);
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;
  Follower(Follower&&) = delete;
  Follower& operator=(Follower&&) = delete;
  ~Follower();

  // Delivers output until the run is final (its streams delivered up to their recorded final
  // lengths), or stop() is called, or (follow=false) the current end is reached. Returns the
  // last state read. Throws what the sink or the spool threw (std::system_error /
  // std::runtime_error).
  RunState run();

  // Ends run() after the current callback; for use from on_signal.
  void stop();

  // Bytes delivered so far, as offsets into the stream files.
  std::uint64_t offset(Stream stream) const;

  // True if run() used the polling fallback.
  bool polled() const;

private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace chaperone::spool
