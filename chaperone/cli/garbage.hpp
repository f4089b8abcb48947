// chaperone/cli/garbage.hpp: removing old runs (`gc`, and retention after `run`).
#pragma once

#include "chaperone/cli/run_filter.hpp"
#include "spool/spool_root.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace chaperone {

struct GcOptions {
  std::optional<std::chrono::milliseconds> older_than; // by end time; none: any age
  std::optional<size_t> keep;                          // keep the N newest of those selected
  RunFilter filter;                                    // states: default every final state
  bool dry_run = false;
  bool prune_output = false; // drop stdout/stderr only; spec and state stay
};

struct GcReport {
  size_t removed = 0;
  size_t pruned = 0;
  size_t skipped_busy = 0; // followed, or its lock held at that moment
  size_t temp_dirs = 0;    // hidden leftovers of callers killed inside `run`
  std::uint64_t bytes = 0; // freed (apparent sizes)
};

// Removes final runs that match, never one that lives (its lock held), is followed (a
// reader's mark held) or is not yet visible; sweeps hidden temp dirs nobody holds. Each
// removal: lock the run and its reader mark, check it is still final, rename it to a hidden
// name (out of sight at once), then delete. `say` gets one line per run acted on.
GcReport collect_garbage(const spool::SpoolRoot& root,
                         const GcOptions& options,
                         const std::function<void(const std::string&)>& say);

// The log of the background retention gc (errors only; created on the first one).
constexpr const char* k_retention_log = ".retention.log";

// CHAPERONE_RETENTION (a duration, e.g. 14d): after `run` starts a run, runs that ended
// longer ago than that are removed, at most once per hour per spool (stamp: <root>/.gc-stamp,
// claimed by the caller). The gc runs in a detached grandchild (no zombie, no inherited fds)
// that holds the stamp's flock while it works, so two never run at once; its errors go to
// <root>/.retention.log. A bad value or a failed fork is reported through `warn`; nothing
// here fails or delays the run.
void apply_retention(const spool::SpoolRoot& root,
                     const char* retention,
                     const std::function<void(const std::string&)>& warn) noexcept;

} // namespace chaperone
