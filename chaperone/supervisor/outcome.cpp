// chaperone/supervisor/outcome.cpp: the run's final state from the facts (see outcome.hpp).
#include "chaperone/supervisor/outcome.hpp"

#include <sys/wait.h>

namespace chaperone {

namespace {

using spool::RunStatus;

Outcome from_wait_status(int wait_status) {
  Outcome out;
  if (WIFEXITED(wait_status)) {
    out.state = RunStatus::exited;
    out.return_code = WEXITSTATUS(wait_status);
    out.exit_code = *out.return_code;
  } else if (WIFSIGNALED(wait_status)) {
    out.state = RunStatus::signaled;
    out.signal = WTERMSIG(wait_status);
    out.exit_code = 128 + *out.signal;
    out.core_dumped = WCOREDUMP(wait_status);
  }
  return out;
}

std::string trim_right(std::string line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  return line;
}

// ssh's own status cannot tell the program's `exit 255`, a far signal and a broken connection
// apart; the far side's report can.
Outcome remote_outcome(const OutcomeFacts& facts, Outcome out) {
  int ssh_status = WIFEXITED(facts.wait_status) ? WEXITSTATUS(facts.wait_status)
                                                : 128 + WTERMSIG(facts.wait_status);
  out.ssh_exit_status = ssh_status;
  out.return_code.reset();
  out.signal.reset();
  out.error.reset();
  const std::optional<FarReport>& far = facts.far;
  // An exec failure is followed by "exit 127/126" from the wrapper: it is a failure to
  // start the program, recorded with its reason, not the program's own exit.
  if (far && far->exit_code && !far->exec_error) {
    out.state = RunStatus::exited;
    out.return_code = *far->exit_code;
    out.exit_code = *far->exit_code;
    return out;
  }
  if (far && far->signal) {
    out.state = RunStatus::signaled;
    out.signal = *far->signal;
    out.exit_code = 128 + *far->signal;
    out.core_dumped = out.core_dumped || far->core_dumped;
    return out;
  }
  out.state = RunStatus::failed;
  std::string last = trim_right(facts.last_stderr_line);
  if (far && far->cwd_error) {
    out.error = "cd " + facts.cwd + ": " + *far->cwd_error;
    out.exit_code = spool::k_exit_chaperone_failed;
  } else if (far && far->exec_error) {
    bool not_found = far->exit_code.value_or(ssh_status) == spool::k_exit_not_found;
    out.error = std::string(not_found ? "program not found" : "program not executable") + " on "
                + facts.host + ": " + *far->exec_error;
    out.exit_code = not_found ? spool::k_exit_not_found : spool::k_exit_not_executable;
  } else if (far && far->wrapper_error) {
    out.error = "far-side wrapper failed: " + *far->wrapper_error;
    out.exit_code = spool::k_exit_chaperone_failed;
  } else if (far && far->started) {
    // After the program started, the last stderr line is usually the program's own; quote
    // it only when it is ssh's complaint about the connection.
    out.error = "connection lost"
                + (is_ssh_complaint(last) ? ": " + last
                                          : " (ssh exited " + std::to_string(ssh_status) + ")");
    out.exit_code = spool::k_exit_ssh_failed;
  } else {
    out.error = "ssh failed (exit " + std::to_string(ssh_status) + ")"
                + (last.empty() ? std::string() : ": " + last);
    out.exit_code = spool::k_exit_ssh_failed;
  }
  return out;
}

} // namespace

bool is_ssh_complaint(const std::string& line) {
  std::string last = trim_right(line);
  return last.rfind("ssh:", 0) == 0 || last.rfind("client_loop:", 0) == 0
         || last.find("closed by remote host") != std::string::npos
         || last.find("not responding") != std::string::npos
         || last.find("Broken pipe") != std::string::npos;
}

Outcome decide_outcome(const OutcomeFacts& facts) {
  Outcome out = from_wait_status(facts.wait_status);
  if (facts.via_ssh) {
    out = remote_outcome(facts, out);
  } else if (facts.far && facts.far->cwd_error) {
    // Local sudo mode: the wrapper could not enter the directory and did not run the program.
    out.state = RunStatus::failed;
    out.return_code.reset();
    out.error = "cd " + facts.cwd + ": " + *facts.far->cwd_error;
    out.exit_code = spool::k_exit_chaperone_failed;
  }
  if (facts.stopped_at_output_limit && !facts.timed_out_after) {
    out.state = RunStatus::failed;
    out.exit_code = spool::k_exit_chaperone_failed;
    out.error = "output limit of " + std::to_string(*facts.stopped_at_output_limit)
                + " bytes exceeded; run stopped";
  }
  if (facts.timed_out_after) {
    out.state = RunStatus::timed_out;
    out.exit_code = spool::k_exit_timed_out;
    out.error = "timed out after " + std::to_string(facts.timed_out_after->count()) + " ms";
  }
  return out;
}

} // namespace chaperone
