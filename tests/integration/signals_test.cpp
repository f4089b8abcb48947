// tests/integration/signals_test.cpp: signals to the front end, `chaperone kill`, and a
// supervisor that dies (lost runs).
#include "tests/integration/common.hpp"

#include <signal.h>

using namespace chaperone::test;

namespace {

// A detached `sh -c 'echo ready; exec sleep 1000'`, waited for until it is running.
std::string start_sleeper(const TempSpool& spool, const std::string& name) {
  std::string id =
      start_detached(spool, {"sh", "-c", "echo ready; exec sleep 1000"}, {"--name", name});
  REQUIRE(wait_until(deadline_in(20s), "the sleeper to say ready", [&] {
    return spool.state(id).value("state", "") == "running"
           && spool.output(id, "stdout") == "ready\n";
  }));
  return id;
}

} // namespace

TEST_CASE("SIGINT and SIGTERM to the attached front end are forwarded to the program",
          "[integration][signals]") {
  int signum = GENERATE(SIGINT, SIGTERM);
  TempSpool spool;
  ChaperoneProcess front(spool,
                         {"run", "--name", "fwd", "--", "sh", "-c", "echo ready; exec sleep 1000"});
  REQUIRE(front.read_until(deadline_in(20s), "ready", [&] { return front.out() == "ready\n"; }));
  front.send_signal(signum);
  RunResult r = front.finish();
  CHECK(r.exit_code == 128 + signum);
  CHECK_FALSE(r.signal.has_value()); // the front end exited by itself, with the program's code
  nlohmann::json st = spool.state("fwd");
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == signum);
}

TEST_CASE("SIGINT forwarded to a program that traps it lets the program choose its exit code",
          "[integration][signals]") {
  TempSpool spool;
  ChaperoneProcess front(spool,
                         {"run",
                          "--name",
                          "trap",
                          "--",
                          "sh",
                          "-c",
                          "trap 'echo caught; exit 7' INT; echo ready; while :; do sleep 1; done"});
  REQUIRE(front.read_until(deadline_in(20s), "ready", [&] { return front.out() == "ready\n"; }));
  front.send_signal(SIGINT);
  RunResult r = front.finish();
  CHECK(r.exit_code == 7);
  CHECK(r.out == "ready\ncaught\n");
  CHECK(spool.state("trap")["state"] == "exited");
}

TEST_CASE("kill sends SIGTERM by default and -s KILL sends SIGKILL to the run's group",
          "[integration][signals]") {
  std::string signal =
      GENERATE(std::string(), std::string("KILL"), std::string("9"), std::string("SIGINT"));
  int expected = signal.empty() ? 143 : signal == "SIGINT" ? 130 : 137;
  TempSpool spool;
  std::string id = start_sleeper(spool, "victim");
  std::vector<std::string> args{"kill", id};
  if (!signal.empty()) {
    args = {"kill", "-s", signal, id};
  }
  RunResult k = run_chaperone(spool, args);
  CHECK(k.exit_code == 0);
  CHECK(k.err.empty());
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == expected);
  CHECK(spool.state(id)["state"] == "signaled");
  // A second kill finds the run over: an error, not a signal to a reused pid.
  RunResult again = run_chaperone(spool, {"kill", id});
  CHECK(again.exit_code == 125);
  CHECK(again.err_lines().size() == 1);
}

TEST_CASE("kill right after run --detach reaches the program even while the run is starting",
          "[integration][signals][regression]") {
  TempSpool spool;
  for (int i = 0; i < 5; ++i) {
    std::string id =
        start_detached(spool, {"sleep", "1000"}, {"--name", "early-" + std::to_string(i)});
    RunResult k = run_chaperone(spool, {"kill", "-s", "KILL", id});
    INFO("stderr: " << k.err);
    CHECK(k.exit_code == 0);
    CHECK(run_chaperone(spool, {"wait", id}, within(20s)).exit_code == 137);
  }
}

// The attached front end forked the supervisor and watches it through a pidfd it opened
// before the run was visible (FollowOptions::supervisor_pidfd), from `waiting` (no program,
// no pid in the state yet) to the end.
TEST_CASE("an attached run notices its supervisor SIGKILLed at once while waiting or running",
          "[integration][signals]") {
  TempSpool spool;
  bool while_waiting = GENERATE(false, true);
  std::string holder;
  if (while_waiting) {
    holder = start_detached(spool, {"sleep", "30"}, {"--lock", "gate"});
    REQUIRE(wait_for_state(spool, holder, {"running"}));
  }
  ChaperoneProcess front(
      spool,
      {"run", "--name", "watched", "--lock", "gate", "--", "sh", "-c", "echo ready; sleep 30"},
      within(30s));
  REQUIRE(wait_until(deadline_in(20s), "the run to be waiting or running", [&] {
    if (!std::filesystem::exists(spool.run_dir("watched") / "state.json")) {
      return false;
    }
    return spool.state("watched").at("state") == (while_waiting ? "waiting" : "running");
  }));
  if (!while_waiting) {
    REQUIRE(front.read_until(
        deadline_in(20s), "the program's output", [&] { return front.out() == "ready\n"; }));
  }
  pid_t supervisor = spool.state("watched").at("supervisor_pid").get<pid_t>();
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  Clock::time_point killed_at = Clock::now();
  RunResult r = front.finish();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 125);
  CHECK(Clock::now() - killed_at < 1s);
  CHECK(r.err.find("lost") != std::string::npos);
  CHECK(spool.state("watched").at("state") == "lost");
  if (while_waiting) {
    (void)run_chaperone(spool, {"kill", holder}); // clean-up: the holder has done its part
  }
}

TEST_CASE("a SIGKILLed supervisor makes status, ls, wait and attach report the run lost",
          "[integration][signals]") {
  TempSpool spool;
  std::string id = start_sleeper(spool, "orphaned");
  nlohmann::json st = spool.state(id);
  pid_t supervisor = st["supervisor_pid"].get<pid_t>();
  pid_t program = st["pid"].get<pid_t>();
  auto program_ticks = process_start_ticks(program);
  // An attach started before the death notices it at once (it watches the supervisor).
  ChaperoneProcess attached(spool, {"attach", id});
  REQUIRE(attached.read_until(
      deadline_in(20s), "attach output", [&] { return attached.out() == "ready\n"; }));
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  Clock::time_point killed_at = Clock::now();
  RunResult a = attached.finish();
  CHECK(a.exit_code == 125);
  // "At once": the same bound as the follower's unit test, measured from the kill.
  CHECK(Clock::now() - killed_at < 1s);
  INFO("attach stderr: " << a.err);
  CHECK(a.err.find("lost") != std::string::npos);

  RunResult status = run_chaperone(spool, {"status", "--json", id});
  CHECK(status.exit_code == 0);
  CHECK(nlohmann::json::parse(status.out)["state"] == "lost");
  CHECK(run_chaperone(spool, {"status", id}).out.find("lost") != std::string::npos);
  nlohmann::json list = nlohmann::json::parse(run_chaperone(spool, {"ls", "--json"}).out);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["state"] == "lost");
  CHECK(run_chaperone(spool, {"ls"}).out.find("lost") != std::string::npos);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 125);
  CHECK(run_chaperone(spool, {"attach", id}).exit_code == 125);
  nlohmann::json final_state = spool.state(id);
  CHECK(final_state["state"] == "lost");
  CHECK(final_state["exit_code"] == 125);
  CHECK(final_state["error"].is_string());
  CHECK(final_state["output"]["stdout"] == 6);

  // README: the program goes with its supervisor (PR_SET_PDEATHSIG), and the reader that
  // recorded `lost` SIGKILLs what is left of its group. It must not outlive either.
  CHECK(wait_until(deadline_in(5s), "the program to end with its supervisor", [&] {
    return !process_running(program, program_ticks);
  }));
}
