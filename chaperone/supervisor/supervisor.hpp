// chaperone/supervisor.hpp: the detached process that holds a run from start to final state.
#pragma once

#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
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

// What the front end wrote into a run's spec.json and first state.json, as it holds them.
struct WrittenRun {
  nlohmann::json spec;
  spool::RunState state;
};

// The command line and environment a forked supervisor shows in /proc (process_title.hpp),
// given once its program has started rather than at its start.
struct DeferredTitle {
  std::vector<std::string> argv;
  char** env = nullptr;
};

struct SupervisorOptions {
  std::filesystem::path run_dir;
  int lock_fd = -1;              // holds the run's LOCK_EX (inherited from the front end)
  std::vector<std::string> argv; // what to exec (a local program, or ssh/sudo from cmdbuild)
  std::string cwd;               // local runs: the program's directory; empty = "/"
  std::string stdin_path = "/dev/null";
  std::string nonce; // remote status channel on stderr (cmdbuild/marker.hpp)
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_after{10'000};
  bool keep_children = false;      // do not end the program's leftovers when it exits
  std::uint64_t max_output = 0;    // per stream; 0 = unlimited (output written directly)
  bool stop_on_max_output = false; // past max_output: stop the run (else drop the excess)
  // Durable remote run (`--hold far`): follow the far run instead of running a program
  // (mirror.hpp). argv is unused then; ship_path is the front end to send to a far host
  // that lacks chaperone.
  bool mirror = false;
  std::string ship_path;
  // Not on the command line: set by run_supervisor() for a supervisor forked from the front
  // end without exec (client/in_image_start.hpp), the chaperone-supervisor binary it stands
  // in for. Its hand-offs resume into that binary and find chaperone-hold beside it; empty
  // means we are that binary (/proc/self/exe).
  std::string in_image_binary;
  // Not on the command line either: a forked supervisor's copy of what the front end wrote
  // to the run, taken from memory rather than read back and parsed again (two files, two
  // JSON parses: ~60 us of an attached run's start). Exact where the files are not: a spec
  // string that is not UTF-8 is kept as given, not with the replacement characters that
  // spec.json shows.
  std::optional<WrittenRun> written;
  // Not on the command line: a forked supervisor's title, which it sets once the program has
  // been started, or before the gate if the run may wait there: its ~50 us (a read of
  // /proc/self/stat, two prctls) were on the way to the program's start. Until then `ps`
  // shows the front end's command line, as it does for the moment between a fork and an exec.
  // Not set at all if the program ended before the loop was ready (the final state is
  // written then, and the supervisor about to exit).
  std::optional<DeferredTitle> title;
  // Not on the command line: a forked supervisor's end of the pipe its attached caller sleeps
  // on (LaunchRequest::await_program_start), -1 for none. The Supervisor takes it and closes
  // it once the program's go byte is sent, before a gate that may wait, once a start that
  // failed is recorded, or at its end, whichever comes first.
  int caller_wake_fd = -1;
};

// Runs the program and records it in the run dir until its final state is written.
// Expects to be in its own session already. Returns the supervisor's exit status (0 when
// the final state was written, whatever the program did). Never throws: a failure is
// recorded as state `failed` with the reason in state.error when that is still possible.
int supervise(const SupervisorOptions& options, const std::shared_ptr<spdlog::logger>& logger);

// Parses the supervisor's own command line (written by the front end, see launch.cpp):
//   RUN_DIR --lock-fd N [--cwd DIR] [--stdin FILE] [--nonce N] [--timeout-ms N]
//   [--kill-after-ms N] [--keep-children] [--max-output N [--stop-on-max-output]] -- ARGV...
//   RUN_DIR --lock-fd N --mirror --ship PATH
// Throws std::invalid_argument naming the bad argument.
SupervisorOptions parse_supervisor_args(const std::vector<std::string>& args);

// The inverse, for the front end.
std::vector<std::string> supervisor_args(const SupervisorOptions& options);

} // namespace chaperone
