// chaperone/supervisor/outcome.hpp: how a run ended, decided from the facts in one place.
//
// The supervisor gathers facts while the run lives (the wait status of its child, what the
// far side reported on its status channel, whether a timeout or the output limit stopped it)
// and, once nothing of the run is left, asks decide_outcome() what to record. The function is
// pure, so every combination is tested as a table (tests/unit/supervisor/outcome_test.cpp);
// four of the early bugs lived in the flags this replaces.
#pragma once

#include "spool/state.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace chaperone {

// What the far-side wrapper reported (cmdbuild::MarkerFilter), as plain data. Present for
// remote runs and local sudo runs; absent for plain local runs.
struct FarReport {
  bool started = false; // it reported the program's pid: the program ran
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool core_dumped = false;
  std::optional<std::string> cwd_error;     // could not enter the directory: program never ran
  std::optional<std::string> exec_error;    // could not exec the program (followed by 126/127)
  std::optional<std::string> wrapper_error; // the wrapper itself failed
};

struct OutcomeFacts {
  int wait_status = 0; // of our child: the program, or the local ssh client for remote runs
  bool via_ssh = false;
  std::optional<FarReport> far;
  std::string last_stderr_line; // the last line on stderr (ssh's complaint, if it is ssh's)
  std::string cwd;              // as asked, for messages
  std::string host;             // remote runs, for messages
  std::optional<std::chrono::milliseconds> timed_out_after; // set when --timeout fired
  std::optional<std::uint64_t> stopped_at_output_limit;     // set when --max-output stopped it
};

struct Outcome {
  spool::RunStatus state = spool::RunStatus::failed;
  int exit_code = spool::k_exit_chaperone_failed; // what `wait` and attached `run` exit with
  std::optional<int> return_code;
  std::optional<int> signal;
  bool core_dumped = false;
  std::optional<std::string> error;
  std::optional<int> ssh_exit_status; // remote runs: ssh's own status, for the record
};

// Precedence, highest first: timeout (timed_out, 124) > output limit stop (failed, 125) >
// what the program did. For remote runs the far side's report is the only truth about the
// program (ssh exits 255 for a connection failure, a far `exit 255` and a far signal alike);
// without one, the run failed and the error says whether ssh could not connect or lost the
// connection after the program started.
Outcome decide_outcome(const OutcomeFacts& facts);

// Whether a stderr line is ssh's own complaint about the connection rather than the program's.
bool is_ssh_complaint(const std::string& line);

} // namespace chaperone
