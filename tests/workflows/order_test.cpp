// tests/workflows/order_test.cpp: --after/--after-ok chains (setup -> run -> cleanup),
// a supervisor SIGKILLed mid-chain, --on-exit, and wait --any/--json.
#include "tests/workflows/workflows_common.hpp"

#include <signal.h>
#include <sys/inotify.h>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

TEST_CASE("a chain whose setup fails skips run, still runs cleanup, and tells what failed",
          "[workflows][order]") {
  TempSpool spool;
  auto s = spool.scratch();
  std::string setup = start_detached(spool,
                                     {"sh",
                                      "-c",
                                      "while [ ! -e \"$1\" ]; do sleep 0.02; done; exit 2",
                                      "setup",
                                      (s / "go").string()},
                                     {"--name", "setup"});
  std::string run = start_detached(
      spool, {"touch", (s / "run.ran").string()}, {"--name", "run", "--after-ok", "setup"});
  std::string cleanup =
      start_detached(spool, {"sh", "-c", "echo cleaned"}, {"--name", "cleanup", "--after", "run"});
  REQUIRE(wait_for_state(spool, run, {"waiting"}));
  REQUIRE(wait_for_state(spool, cleanup, {"waiting"}));
  CHECK(spool.state(run).at("waiting_for") == nlohmann::json::array({"run setup"}));
  touch(s / "go");
  CHECK(run_chaperone(spool, {"wait", "cleanup"}).exit_code == 0);
  CHECK(state_of(spool, "setup") == "exited");
  CHECK(state_of(spool, "run") == "skipped");
  CHECK(spool.state("run").at("error") == "dependency setup ended exited (exit 2)");
  CHECK(!file_exists(s / "run.ran"));
  CHECK(spool.output("cleanup", "stdout") == "cleaned\n");
  // The chain's status: the first non-zero code in order names the failing step.
  RunResult waited = run_chaperone(spool, {"wait", "setup", "run", "cleanup"});
  CHECK(waited.exit_code == 2);
  RunResult shown = run_chaperone(spool, {"show", "run"});
  CHECK(shown.out.find("setup (exited, needs exit 0)") != std::string::npos);
  CHECK(shown.out.find("cleanup (exited)") != std::string::npos);
}

TEST_CASE("a supervisor SIGKILLed mid-chain: the run is lost, --after-ok skips, --after runs",
          "[workflows][order]") {
  TempSpool spool;
  HeldRun a = start_holder(spool, "a", {"--name", "a"});
  std::string b = start_detached(spool, {"true"}, {"--name", "b", "--after-ok", "a"});
  std::string c = start_detached(spool, {"echo", "c ran"}, {"--name", "c", "--after", "b"});
  REQUIRE(wait_for_state(spool, b, {"waiting"}));
  REQUIRE(::kill(spool.state(a.id).at("supervisor_pid").get<pid_t>(), SIGKILL) == 0);
  CHECK(run_chaperone(spool, {"wait", "c"}).exit_code == 0);
  CHECK(state_of(spool, "a") == "lost");
  CHECK(state_of(spool, "b") == "skipped");
  CHECK(spool.state("b").at("error") == "dependency a ended lost (exit 125)");
  CHECK(spool.output("c", "stdout") == "c ran\n");
  a.let_go(); // its program outlived the supervisor
}

TEST_CASE("a run waiting --after another watches that run's dir only for the dir's own events",
          "[workflows][order][regression]") {
  // The gate asked the dependency's dir for IN_CLOSE_WRITE, which the kernel reports through
  // the dir's children: each write(2) of the dependency's program to its stdout then walked
  // to the dir and back for as long as the other run waited. Closes are watched on the
  // dependency's state.json and lock instead; the SIGKILL test above needs the lock's.
  TempSpool spool;
  HeldRun a = start_holder(spool, "a", {"--name", "a"});
  std::string b = start_detached(spool, {"true"}, {"--name", "b", "--after", "a"});
  REQUIRE(wait_for_state(spool, b, {"waiting"}));
  pid_t gate = spool.state(b).at("supervisor_pid").get<pid_t>();
  std::filesystem::path dir = spool.run_dir(a.id);
  std::vector<InotifyWatch> watches;
  // Until the gate watches a's current state.json (a state written by a's supervisor after
  // b's last look is a new inode, which b watches once the rename wakes it).
  REQUIRE(wait_until(deadline_in(20s), "b's gate to watch a's state.json and lock", [&] {
    watches = inotify_watches(gate);
    return !watches_on(watches, (dir / "lock").string()).empty()
           && !watches_on(watches, (dir / "state.json").string()).empty();
  }));
  std::string problems = run_watch_problems(watches, dir.string());
  INFO(problems);
  CHECK(problems.empty());
  a.let_go();
  CHECK(run_chaperone(spool, {"wait", "b"}).exit_code == 0);
  CHECK(state_of(spool, "a") == "exited");
}

TEST_CASE("an on-exit command runs once after the final state with the run's facts in its env",
          "[workflows][order]") {
  TempSpool spool;
  auto out = spool.scratch() / "on-exit.txt";
  RunResult r = run_chaperone(
      spool,
      {"run",
       "--name",
       "cb",
       "--on-exit",
       "echo \"$CHAPERONE_RUN_ID $CHAPERONE_STATE $CHAPERONE_EXIT_CODE $CHAPERONE_RUN_DIR\" "
       ">> "
           + out.string() + "; exit 9",
       "--",
       "sh",
       "-c",
       "exit 5"});
  CHECK(r.exit_code == 5);
  REQUIRE(wait_until(deadline_in(20s), "on-exit to be recorded", [&] {
    return spool.state("cb").contains("on_exit");
  }));
  CHECK(read_whole_file(out) == "cb exited 5 " + spool.run_dir("cb").string() + "\n");
  CHECK(spool.state("cb").at("on_exit").at("exit_code") == 9);
  CHECK(spool.state("cb").at("exit_code") == 5); // never changed by the callback
}

TEST_CASE("wait --any prints the first run to end and exits with its code, --json its summaries",
          "[workflows][order]") {
  TempSpool spool;
  auto s = spool.scratch();
  std::string slow = start_detached(spool, held_program(s / "slow", s / "release", 4));
  std::string fast = start_detached(spool, {"sh", "-c", "exit 3"});
  RunResult any = run_chaperone(spool, {"wait", "--any", slow, fast});
  CHECK(any.exit_code == 3);
  CHECK(any.out == fast + "\n");
  touch(s / "release");
  RunResult all = run_chaperone(spool, {"wait", "--all", "--json", slow, fast});
  CHECK(all.exit_code == 4); // argument order: slow's code first
  std::vector<std::string> lines = lines_of(all.out);
  REQUIRE(lines.size() == 2);
  for (const std::string& line : lines) {
    nlohmann::json summary = nlohmann::json::parse(line);
    CHECK(summary.at("state") == "exited");
    CHECK(summary.contains("duration_s"));
    CHECK(summary.at("output").contains("stdout"));
  }
}

TEST_CASE("wait on a lost run says why it exits 125", "[workflows][order]") {
  TempSpool spool;
  HeldRun run = start_holder(spool, "run", {});
  REQUIRE(::kill(spool.state(run.id).at("supervisor_pid").get<pid_t>(), SIGKILL) == 0);
  run.let_go(); // its program outlived the supervisor
  std::string id = run.id;
  RunResult r = run_chaperone(spool, {"wait", id});
  CHECK(r.exit_code == 125);
  // One line naming the run and why (its wording is end_report.cpp's).
  CHECK(r.err.find("chaperone: run " + id) == 0);
  CHECK(r.err.find("lost") != std::string::npos);
  CHECK(r.err.find("died before the run ended") != std::string::npos);
}
