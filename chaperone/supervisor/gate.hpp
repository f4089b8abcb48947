// chaperone/supervisor/gate.hpp: what a run waits for before its program starts: the runs
// named by --after/--after-ok, then its --lock locks and --slots slots.
#pragma once

#include "spool/fd.hpp"
#include "spool/run_dir.hpp"
#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace chaperone {

struct GateResult {
  // Set: the program must not run; the run ends `skipped` with this reason.
  std::optional<std::string> skipped;
  // The open lock files whose OFD locks we hold. Closing them (or our death, SIGKILL
  // included) releases the locks: the kernel keeps no lock of a dead holder.
  std::vector<spool::Fd> held;
};

// Whether `spec` names anything pass_gate() may wait for (--after, --lock, --slots).
bool gate_may_wait(const nlohmann::json& spec);

// Waits, in state `waiting` (state.json "waiting_for" says for what), until every --after
// run is final, then takes the locks (sorted by name, so two runs never hold one each of
// the same pair) and then one slot of each slot group. With --after-ok, a dependency that
// did not exit 0 skips the run; --lock-timeout / --no-wait skip it when a lock or slot
// stays taken; SIGTERM or SIGINT (`chaperone kill`) while waiting skips it too. Nothing to
// wait for: returns at once without writing anything.
//
// Lock files: <root>/.locks/lock/NAME (byte 0: F_WRLCK exclusive, F_RDLCK shared) and
// <root>/.locks/slots/NAME (bytes 0..N-1, one per slot), taken with fcntl F_OFD_SETLK.
// In front of each is a first-come-first-served line (lock_queue.hpp): a run takes a place
// when it starts to wait for that lock or slot group and tries only when nobody ahead of it
// conflicts; a lock holder keeps its place until it releases the lock. A run that follows
// (--after/--after-ok) runs which hold or wait for every lock it wants queues right behind
// them while it waits for them to end, so the lock passes along a chain with nobody else
// in between, exclusive -> shared included (that is the downgrade).
// A waiter sleeps on inotify: IN_CLOSE_WRITE of the lock file (every holder opened it for
// writing, so its release, however the supervisor ends, wakes the waiters) and changes in
// the line's directory (a place taken, given up, or dead with its owner).
GateResult pass_gate(const spool::RunDir& run,
                     const nlohmann::json& spec,
                     spool::RunState& state,
                     const std::shared_ptr<spdlog::logger>& log);

} // namespace chaperone
