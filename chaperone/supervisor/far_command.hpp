// chaperone/supervisor/far_command.hpp: run one short far-side step (probe, install, launch,
// signal) to completion and collect what it printed. Blocking, with a deadline.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace chaperone {

struct CommandOutcome {
  int exit_code = -1; // 128+N when killed by signal N (also when the deadline killed it)
  bool timed_out = false;
  std::string out;
  std::string err;
  // The last non-empty line of err without trailing CR/space (ssh's or the far side's reason).
  std::string last_err_line() const;
};

// Runs argv (PATH lookup) in its own process group with the files in `stdin_files` fed to
// its stdin back to back (else /dev/null), and waits. Past `timeout` the group is
// SIGKILLed. Throws std::system_error if it cannot be started at all.
CommandOutcome run_command(const std::vector<std::string>& argv,
                           const std::vector<std::filesystem::path>& stdin_files,
                           std::chrono::milliseconds timeout);

} // namespace chaperone
