// spool/run_retire.hpp: moving a final run aside so that its name can be used again.
#pragma once

#include "spool/spool_root.hpp"

#include <optional>
#include <string>

namespace chaperone::spool {

// Renames the final run `run_id` to "<run_id>@<its end time, compact>" (state.json then
// carries the new run_id and "replaced_name": run_id; spec.json keeps what was asked) and
// returns the new id. It holds the run's lock while it moves it, so a reader resolving it as
// `lost` or a second replacer cannot race. Returns nullopt if `run_id` no longer names the
// run it locked (someone else moved it first: try again). Throws std::runtime_error if the
// run is not final ("still running"), std::system_error naming the call otherwise.
std::optional<std::string> retire_run(const SpoolRoot& root, const std::string& run_id);

} // namespace chaperone::spool
