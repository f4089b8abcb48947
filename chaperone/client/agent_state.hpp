// chaperone/client/agent_state.hpp: a run as the seed's agent reports it (proc_id, state,
// program, agent_pid, pid, exception, status, return_code, signal, rusage, start_time,
// end_time), for `chaperone agent` and the `completed` callback.
#pragma once

#include "spool/run_dir.hpp"

#include <nlohmann/json.hpp>

namespace chaperone {

// Builds the object (keys in the seed's order) from state.json (`state`) and the run's spec.json
// (for `program`). Throws std::runtime_error if spec.json is damaged.
nlohmann::ordered_json agent_state(const spool::RunDir& run, const spool::RunState& state);

} // namespace chaperone
