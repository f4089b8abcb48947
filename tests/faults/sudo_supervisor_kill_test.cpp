// tests/faults/sudo_supervisor_kill_test.cpp: a local `sudo` run execs a set-uid binary, which
// drops the PR_SET_PDEATHSIG the supervisor set, so its program survives a SIGKILLed
// supervisor. README: the next reader that finds the lock free records the run `lost` and
// ends that group. Needs root (sudo to another user without a password).
#include "tests/faults/faults_common.hpp"

#include <signal.h>

using namespace chaperone::test;
using namespace chaperone::test::faults;

TEST_CASE("a local sudo run whose supervisor is SIGKILLed has its group ended by the next reader",
          "[faults][sudo]") {
  TempSpool spool;
  // The program reports its own pid, then sleeps (in the foreground: the same group).
  RunResult started = run_chaperone(
      spool, {"run", "-d", "--sudo-user", "nobody", "--", "sh", "-c", "echo $$; sleep 1000"});
  INFO("run stderr: " << started.err);
  REQUIRE(started.exit_code == 0);
  std::string id = started.out.substr(0, started.out.find('\n'));
  REQUIRE(wait_until(deadline_in(20s), "the program's pid on stdout", [&] {
    std::string out = spool.output(id, "stdout");
    return !out.empty() && out.back() == '\n';
  }));
  std::string out = spool.output(id, "stdout");
  auto program = static_cast<pid_t>(std::stol(out));
  auto program_ticks = process_start_ticks(program);
  nlohmann::json st = spool.state(id);
  REQUIRE(st["state"] == "running");
  auto supervisor = st["supervisor_pid"].get<pid_t>();
  auto sudo = st["pid"].get<pid_t>();
  auto sudo_ticks = process_start_ticks(sudo);
  REQUIRE(process_running(program, program_ticks));
  REQUIRE(read_whole_file("/proc/" + std::to_string(sudo) + "/comm") == "sudo\n");

  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  REQUIRE(wait_until(
      deadline_in(10s), "the supervisor to die", [&] { return !process_running(supervisor); }));
  // The death signal did not reach through sudo: the program is still there. (Were this to
  // change, the reader below would have nothing to do and the test would prove less.)
  CHECK(process_running(program, program_ticks));

  RunResult status = run_chaperone(spool, {"status", "--json", id});
  CHECK(status.exit_code == 0);
  CHECK(nlohmann::json::parse(status.out)["state"] == "lost");
  CHECK(wait_until(deadline_in(10s), "the program to be ended by the reader", [&] {
    return !process_running(program, program_ticks) && !process_running(sudo, sudo_ticks);
  }));
  nlohmann::json final_state = spool.state(id);
  CHECK(final_state["state"] == "lost");
  CHECK(final_state["exit_code"] == 125);
}
