// chaperone/logging.hpp: the two logger set-ups; the only place sinks are chosen.
#pragma once

#include <filesystem>
#include <memory>

namespace spdlog {
class logger;
}

namespace chaperone {

// Front end: stderr, level warn (verbosity 1: info, 2+: debug), one-line messages.
std::shared_ptr<spdlog::logger> make_stderr_logger(int verbosity);
// The level make_stderr_logger gives for VERBOSITY, set on a logger it made.
void set_stderr_verbosity(spdlog::logger& logger, int verbosity);

// Supervisor: <run-dir>/supervisor.log, UTC timestamps with microseconds and the pid,
// each line written at once (one write(2)) so a SIGKILL loses nothing already logged.
std::shared_ptr<spdlog::logger> make_supervisor_logger(const std::filesystem::path& path);

} // namespace chaperone
