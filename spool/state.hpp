// spool/state.hpp: the contents of state.json, a run's machine-readable truth.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace chaperone::spool {

enum class RunStatus {
  starting,
  waiting, // the supervisor holds the run; the program waits for locks, slots or --after runs
  running,
  exited,
  signaled,
  timed_out,
  failed,
  lost,
  skipped, // the program never ran, by design (a dependency failed, a lock wait gave up)
};

// "starting", "waiting", "running", "exited", "signaled", "timed_out", "failed", "lost",
// "skipped".
std::string to_string(RunStatus status);
std::optional<RunStatus> parse_run_status(const std::string& text);

// Final states never change again; their output lengths are the streams' final lengths.
bool is_final(RunStatus status);

// Exit codes of the CLI (DESIGN.md "Exit codes of the CLI").
// The program never ran (state `skipped`): EX_TEMPFAIL of sysexits.h, "try again later".
constexpr int k_exit_skipped = 75;
constexpr int k_exit_timed_out = 124;
constexpr int k_exit_chaperone_failed = 125;
constexpr int k_exit_not_executable = 126;
constexpr int k_exit_not_found = 127;
constexpr int k_exit_ssh_failed = 255;

struct RunState {
  std::string run_id;
  RunStatus state = RunStatus::starting;
  nlohmann::json program = nlohmann::json::object(); // {"argv": [...], "cwd": ...}
  nlohmann::json target = nlohmann::json::object();  // {"mode": "local", ...}
  std::string boot_id;
  std::optional<pid_t> supervisor_pid;
  std::optional<std::uint64_t> supervisor_start_ticks; // /proc/PID/stat field 22
  std::optional<pid_t> pid;                            // the program (or local ssh client)
  std::optional<pid_t> pgid;
  std::optional<std::uint64_t> pid_start_ticks;
  std::optional<int> return_code; // exited: the program's own code
  std::optional<int> signal;      // signaled: the signal number
  // What `chaperone wait` exits with for this run (also set for failed and lost runs).
  std::optional<int> exit_code;
  nlohmann::json rusage = nullptr; // {"utime": s, "stime": s, "maxrss_kib": n, ...}
  std::string start_time;          // ISO 8601 UTC, empty until known
  std::string end_time;
  std::optional<std::string> error; // one-line reason for failed/lost
  std::uint64_t stdout_bytes = 0;   // output.stdout: final length once the state is final
  std::uint64_t stderr_bytes = 0;
  // Everything else (remote pids, timeout details, signals sent): kept and written back.
  nlohmann::json extra = nlohmann::json::object();

  nlohmann::json to_json() const;
  // state.json's text: to_json().dump(2, ' ', false, error_handler_t::replace) and a newline,
  // written without building that tree (spool/json_text.hpp).
  std::string to_text() const;
  // Throws std::runtime_error naming the missing or mistyped field.
  static RunState from_json(const nlohmann::json& json);
  // from_json(nlohmann::json::parse(text)), without the tree for the fields it reads itself
  // (spool/state_read.cpp). Text that is not JSON throws NotJson; the rest as from_json.
  static RunState from_text(std::string_view text);
  struct NotJson : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  // The CLI exit code for a final state: exit_code if recorded, else derived from the state.
  int cli_exit_code() const;
};

} // namespace chaperone::spool
