// chaperone/launch.hpp: create a run and hand it to a detached supervisor (no CLI needed).
#pragma once

#include "cmdbuild/command.hpp"
#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace chaperone {

struct LaunchRequest {
  std::string run_id;                   // empty: a new time-sorted id
  cmdbuild::Program program;            // argv; cwd absolute (local runs: empty = "/")
  cmdbuild::Target target;              // mode local for local runs
  std::string stdin_path = "/dev/null"; // absolute; read by the program (local runs)
  // Local runs: the program's stdin as data, stored in the run dir (file "stdin", 0600)
  // before the run is published and read from there; replaces stdin_path.
  std::optional<std::string> stdin_data;
  // Further files (name, content) created 0600 in the run dir before it is published, so a
  // reader never sees the run without them (e.g. the callback settings).
  std::vector<std::pair<std::string, std::string>> extra_files;
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_after{10'000};
  bool keep_children = false;
  std::uint64_t max_output = 0; // per stream; 0 = unlimited
  bool stop_on_max_output = false;
  bool record_env = false;               // store --env values in spec.json (else names only)
  std::vector<std::string> base_env;     // the caller's environment, "K=V"
  std::filesystem::path supervisor_path; // the chaperone-supervisor binary
};

// The run-dir file that holds LaunchRequest::stdin_data.
constexpr const char* k_stdin_data_file = "stdin";

struct LaunchedRun {
  spool::RunDir run;
  pid_t supervisor_pid;
};

// Validates the request (std::invalid_argument naming the problem, nothing created),
// creates the run in `root` and starts its supervisor in a new session. The run's lock is
// held from creation and passed to the supervisor, so no reader ever sees an unlocked,
// unfinished run. If the supervisor cannot be started the run is recorded as `failed`
// and std::system_error is thrown.
LaunchedRun launch_run(const spool::SpoolRoot& root, const LaunchRequest& request);

// The supervisor binary next to the running executable (/proc/self/exe), or in
// ../libexec/chaperone/ from there.
std::filesystem::path default_supervisor_path();

} // namespace chaperone
