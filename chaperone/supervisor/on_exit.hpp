// chaperone/supervisor/on_exit.hpp: the --on-exit command, run once after the final state.
#pragma once

#include "spool/run_dir.hpp"

#include <nlohmann/json.hpp>

#include <memory>

namespace spdlog {
class logger;
}

namespace chaperone {

// If spec.config.on_exit is set and the run's state is final: runs it with /bin/sh -c in
// the run's cwd (local runs; else /), stdin /dev/null, stdout and stderr into
// <run>/on_exit.log, with CHAPERONE_RUN_ID, CHAPERONE_RUN_DIR, CHAPERONE_EXIT_CODE and
// CHAPERONE_STATE added to the supervisor's environment; waits for it and records
// {"command", "exit_code", "log"} as state.json "on_exit". The run's own outcome is never
// changed. Never throws (a failure to start it is what gets recorded).
// Whether spec.config.on_exit names a command.
bool has_on_exit(const nlohmann::json& spec) noexcept;
// The same for spec.json's `config` object alone (LaunchRequest::workflow, before it is
// written).
bool config_has_on_exit(const nlohmann::json& config) noexcept;

// What run_on_exit() reads of `spec` (config.on_exit), as a spec of its own: a supervisor
// keeps this for the run's end instead of the whole tree (docs/bench/MEMORY-2026-12-02d.md).
nlohmann::json on_exit_spec(const nlohmann::json& spec);

void run_on_exit(const spool::RunDir& run,
                 const nlohmann::json& spec,
                 const std::shared_ptr<spdlog::logger>& log) noexcept;

} // namespace chaperone
