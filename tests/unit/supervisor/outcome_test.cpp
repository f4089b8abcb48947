// tests/unit/supervisor/outcome_test.cpp: decide_outcome() as a table, one row per way a run
// can end.
#include "chaperone/supervisor/outcome.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace chaperone {
namespace {

using namespace std::chrono_literals;
using spool::RunStatus;

// Wait statuses as the kernel encodes them (the W* macros only decode).
int exited(int code) {
  return (code & 0xff) << 8;
}
int killed(int signum, bool core = false) {
  return signum | (core ? 0x80 : 0);
}

FarReport far_exit(int code) {
  FarReport far;
  far.started = true;
  far.exit_code = code;
  return far;
}

FarReport far_signal(int signum, bool core = false) {
  FarReport far;
  far.started = true;
  far.signal = signum;
  far.core_dumped = core;
  return far;
}

FarReport far_started() {
  FarReport far;
  far.started = true;
  return far;
}

struct Row {
  std::string name;
  OutcomeFacts facts;
  RunStatus state;
  int exit_code;
  std::optional<int> return_code;
  std::optional<int> signal;
  std::optional<std::string> error; // nullopt: no error recorded
  bool core_dumped = false;
};

OutcomeFacts local(int status) {
  OutcomeFacts facts;
  facts.wait_status = status;
  return facts;
}

OutcomeFacts remote(int ssh_status, std::optional<FarReport> far, std::string last_line = {}) {
  OutcomeFacts facts;
  facts.wait_status = ssh_status;
  facts.via_ssh = true;
  facts.far = std::move(far);
  facts.last_stderr_line = std::move(last_line);
  facts.cwd = "/srv/app";
  facts.host = "build7";
  return facts;
}

template <typename Fn> OutcomeFacts with(OutcomeFacts facts, Fn&& change) {
  change(facts);
  return facts;
}

std::vector<Row> table() {
  FarReport cwd_failed;
  cwd_failed.cwd_error = "No such file or directory"; // the wrapper reports no exit then
  FarReport exec_not_found;
  exec_not_found.exec_error = "No such file or directory";
  exec_not_found.exit_code = 127;
  FarReport exec_denied;
  exec_denied.exec_error = "Permission denied";
  exec_denied.exit_code = 126;
  FarReport wrapper_broken;
  wrapper_broken.wrapper_error = "fork: Resource temporarily unavailable";
  OutcomeFacts sudo_cwd = local(exited(125));
  sudo_cwd.far = cwd_failed;
  sudo_cwd.cwd = "/nope";

  return {
      {"local exit 0", local(exited(0)), RunStatus::exited, 0, 0, {}, {}},
      {"local exit 42", local(exited(42)), RunStatus::exited, 42, 42, {}, {}},
      {"local exit 255 is the program's", local(exited(255)), RunStatus::exited, 255, 255, {}, {}},
      {"local SIGKILL", local(killed(SIGKILL)), RunStatus::signaled, 137, {}, SIGKILL, {}},
      {"local SIGSEGV with core",
       local(killed(SIGSEGV, true)),
       RunStatus::signaled,
       128 + SIGSEGV,
       {},
       SIGSEGV,
       {},
       true},
      {"local timeout keeps the signal that ended it",
       with(local(killed(SIGTERM)), [](OutcomeFacts& f) { f.timed_out_after = 1500ms; }),
       RunStatus::timed_out,
       124,
       {},
       SIGTERM,
       "timed out after 1500 ms"},
      {"timeout wins over the output limit",
       with(local(killed(SIGTERM)),
            [](OutcomeFacts& f) {
              f.timed_out_after = 10ms;
              f.stopped_at_output_limit = 64;
            }),
       RunStatus::timed_out,
       124,
       {},
       SIGTERM,
       "timed out after 10 ms"},
      {"output limit stop",
       with(local(killed(SIGTERM)), [](OutcomeFacts& f) { f.stopped_at_output_limit = 65536; }),
       RunStatus::failed,
       125,
       {},
       SIGTERM,
       "output limit of 65536 bytes exceeded; run stopped"},
      {"local sudo: cd failed, program never ran",
       sudo_cwd,
       RunStatus::failed,
       125,
       {},
       {},
       "cd /nope: No such file or directory"},
      {"remote exit 0", remote(exited(0), far_exit(0)), RunStatus::exited, 0, 0, {}, {}},
      {"remote program's own exit 255 is exited, not an ssh failure",
       remote(exited(255), far_exit(255)),
       RunStatus::exited,
       255,
       255,
       {},
       {}},
      {"remote signal reported by the far side",
       remote(exited(255), far_signal(SIGINT)),
       RunStatus::signaled,
       128 + SIGINT,
       {},
       SIGINT,
       {}},
      {"remote core dump",
       remote(exited(255), far_signal(SIGABRT, true)),
       RunStatus::signaled,
       128 + SIGABRT,
       {},
       SIGABRT,
       {},
       true},
      {"remote cd failure",
       remote(exited(125), cwd_failed),
       RunStatus::failed,
       125,
       {},
       {},
       "cd /srv/app: No such file or directory"},
      {"remote program not found",
       remote(exited(127), exec_not_found),
       RunStatus::failed,
       127,
       {},
       {},
       "program not found on build7: No such file or directory"},
      {"remote program not executable",
       remote(exited(126), exec_denied),
       RunStatus::failed,
       126,
       {},
       {},
       "program not executable on build7: Permission denied"},
      {"far wrapper failed",
       remote(exited(255), wrapper_broken),
       RunStatus::failed,
       125,
       {},
       {},
       "far-side wrapper failed: fork: Resource temporarily unavailable"},
      {"connection lost quotes ssh's complaint",
       remote(exited(255), far_started(), "client_loop: send disconnect: Broken pipe\r"),
       RunStatus::failed,
       255,
       {},
       {},
       "connection lost: client_loop: send disconnect: Broken pipe"},
      {"connection lost does not quote the program's own last line",
       remote(exited(255), far_started(), "progress 40%"),
       RunStatus::failed,
       255,
       {},
       {},
       "connection lost (ssh exited 255)"},
      {"ssh could not connect",
       remote(exited(255), std::nullopt, "ssh: connect to host build7 port 22: Connection refused"),
       RunStatus::failed,
       255,
       {},
       {},
       "ssh failed (exit 255): ssh: connect to host build7 port 22: Connection refused"},
      {"ssh killed before the far side said anything",
       remote(killed(SIGKILL), FarReport{}),
       RunStatus::failed,
       255,
       {},
       {},
       "ssh failed (exit 137)"},
      {"remote timeout",
       with(remote(exited(255), far_signal(SIGTERM)),
            [](OutcomeFacts& f) { f.timed_out_after = 2000ms; }),
       RunStatus::timed_out,
       124,
       {},
       SIGTERM,
       "timed out after 2000 ms"},
  };
}

TEST_CASE("decide_outcome gives each way a run ends its state, code and reason", "[unit]") {
  for (const Row& row : table()) {
    SECTION(row.name) {
      Outcome out = decide_outcome(row.facts);
      CHECK(spool::to_string(out.state) == spool::to_string(row.state));
      CHECK(out.exit_code == row.exit_code);
      CHECK(out.return_code == row.return_code);
      CHECK(out.signal == row.signal);
      CHECK(out.error == row.error);
      CHECK(out.core_dumped == row.core_dumped);
      CHECK(out.ssh_exit_status.has_value() == row.facts.via_ssh);
    }
  }
}

TEST_CASE("remote outcomes record ssh's own exit status", "[unit]") {
  CHECK(decide_outcome(remote(exited(255), far_exit(3))).ssh_exit_status == 255);
  CHECK(decide_outcome(remote(killed(SIGTERM), std::nullopt)).ssh_exit_status == 128 + SIGTERM);
}

TEST_CASE("only ssh's own complaints count as ssh's", "[unit]") {
  CHECK(is_ssh_complaint("ssh: Could not resolve hostname x: Name or service not known"));
  CHECK(is_ssh_complaint("Connection to 127.0.0.1 closed by remote host."));
  CHECK(is_ssh_complaint("Timeout, server 127.0.0.1 not responding.\r"));
  CHECK_FALSE(is_ssh_complaint("error: build failed"));
  CHECK_FALSE(is_ssh_complaint(""));
}

} // namespace
} // namespace chaperone
