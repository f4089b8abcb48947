// tests/workflows/locks_test.cpp: --lock, --slots, --lock-timeout and --no-wait between real
// concurrent runs, including a holder whose supervisor is SIGKILLed.
#include "tests/workflows/workflows_common.hpp"

#include <signal.h>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

namespace {

pid_t supervisor_pid(const TempSpool& spool, const std::string& id) {
  return spool.state(id).at("supervisor_pid").get<pid_t>();
}

} // namespace

TEST_CASE("a second run of an exclusive lock waits in state waiting, then runs when the holder "
          "ends, and --no-wait gives up with exit 75",
          "[workflows][locks]") {
  TempSpool spool;
  HeldRun holder = start_holder(spool, "h", {"--lock", "deploy"});
  HeldRun second = start_waiter(spool, "2", {"--lock", "deploy"});
  CHECK(spool.state(second.id).at("waiting_for")
        == nlohmann::json::array({"lock deploy (exclusive)"}));
  CHECK(!file_exists(second.started));

  RunResult no_wait = run_chaperone(spool, {"run", "--lock", "deploy", "--no-wait", "--", "true"});
  CHECK(no_wait.exit_code == 75);
  RunResult shared = run_chaperone(
      spool, {"run", "--lock", "deploy:shared", "--lock-timeout", "200ms", "--", "true"});
  CHECK(shared.exit_code == 75);

  holder.let_go();
  REQUIRE(
      wait_until(deadline_in(20s), "second to start", [&] { return file_exists(second.started); }));
  CHECK(state_of(spool, holder.id) == "exited");
  second.let_go();
  CHECK(run_chaperone(spool, {"wait", second.id}).exit_code == 0);

  int skipped = 0;
  for (const std::string& id : spool.run_ids()) {
    if (state_of(spool, id) == "skipped") {
      ++skipped;
      CHECK(spool.state(id).at("exit_code") == 75);
      CHECK(spool.state(id).at("error").get<std::string>().find("lock deploy")
            != std::string::npos);
      CHECK(spool.output_size(id, "stdout") == 0);
    }
  }
  CHECK(skipped == 2);
}

TEST_CASE("a lock held by a SIGKILLed supervisor is released by the kernel and the waiter runs",
          "[workflows][locks]") {
  TempSpool spool;
  HeldRun holder = start_holder(spool, "h", {"--lock", "host1"});
  std::string waiter = start_detached(spool, {"sh", "-c", "echo got it"}, {"--lock", "host1"});
  REQUIRE(wait_for_state(spool, waiter, {"waiting"}));
  REQUIRE(::kill(supervisor_pid(spool, holder.id), SIGKILL) == 0);
  RunResult waited = run_chaperone(spool, {"wait", waiter});
  CHECK(waited.exit_code == 0);
  CHECK(spool.output(waiter, "stdout") == "got it\n");
  CHECK(run_chaperone(spool, {"status", holder.id}).out.find("lost") != std::string::npos);
  holder.let_go(); // its program outlived the supervisor
}

TEST_CASE("shared holders run together while an exclusive run waits for all of them",
          "[workflows][locks]") {
  TempSpool spool;
  auto s = spool.scratch();
  std::string a =
      start_detached(spool, held_program(s / "a.started", s / "release"), {"--lock", "vm:shared"});
  std::string b =
      start_detached(spool, held_program(s / "b.started", s / "release"), {"--lock", "vm:shared"});
  REQUIRE(wait_until(deadline_in(20s), "both shared holders to run", [&] {
    return file_exists(s / "a.started") && file_exists(s / "b.started");
  }));
  std::string x = start_detached(spool, {"true"}, {"--lock", "vm"});
  REQUIRE(wait_for_state(spool, x, {"waiting"}));
  touch(s / "release");
  CHECK(run_chaperone(spool, {"wait", a, b, x}).exit_code == 0);
  CHECK(state_of(spool, x) == "exited");
}

TEST_CASE("a kill of a waiting run ends it skipped without running its program",
          "[workflows][locks]") {
  TempSpool spool;
  auto s = spool.scratch();
  HeldRun holder = start_holder(spool, "h", {"--lock", "k"});
  std::string waiter = start_detached(spool, {"touch", (s / "ran").string()}, {"--lock", "k"});
  REQUIRE(wait_for_state(spool, waiter, {"waiting"}));
  CHECK(run_chaperone(spool, {"kill", waiter}).exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", waiter}).exit_code == 75);
  CHECK(spool.state(waiter).at("error") == "cancelled by SIGTERM while waiting (lock k)");
  holder.let_go();
  CHECK(run_chaperone(spool, {"wait", holder.id}).exit_code == 0);
  CHECK(!file_exists(s / "ran"));
}

TEST_CASE("slots NAME=2 let two runs run at once and the third waits for a free slot",
          "[workflows][locks]") {
  TempSpool spool;
  HeldRun first = start_holder(spool, "1", {"--slots", "q=2"});
  HeldRun second = start_holder(spool, "2", {"--slots", "q=2"});
  HeldRun third = start_waiter(spool, "3", {"--slots", "q=2"});
  CHECK(!file_exists(third.started));
  first.let_go();
  REQUIRE(wait_until(
      deadline_in(20s), "third run to start", [&] { return file_exists(third.started); }));
  CHECK(state_of(spool, second.id) == "running");
  second.let_go();
  third.let_go();
  std::vector<std::string> ids{first.id, second.id, third.id};
  CHECK(run_chaperone(spool, {"wait", ids[0], ids[1], ids[2]}).exit_code == 0);
}
