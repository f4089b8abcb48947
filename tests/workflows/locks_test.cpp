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
  auto s = spool.scratch();
  std::string holder =
      start_detached(spool, held_program(s / "h.started", s / "h.release"), {"--lock", "deploy"});
  REQUIRE(wait_until(
      deadline_in(20s), "holder to start", [&] { return file_exists(s / "h.started"); }));
  std::string second =
      start_detached(spool, held_program(s / "2.started", s / "2.release"), {"--lock", "deploy"});
  REQUIRE(wait_for_state(spool, second, {"waiting"}));
  CHECK(spool.state(second).at("waiting_for")
        == nlohmann::json::array({"lock deploy (exclusive)"}));
  CHECK(!file_exists(s / "2.started"));

  RunResult no_wait = run_chaperone(spool, {"run", "--lock", "deploy", "--no-wait", "--", "true"});
  CHECK(no_wait.exit_code == 75);
  RunResult shared = run_chaperone(
      spool, {"run", "--lock", "deploy:shared", "--lock-timeout", "200ms", "--", "true"});
  CHECK(shared.exit_code == 75);

  touch(s / "h.release");
  REQUIRE(wait_until(
      deadline_in(20s), "second to start", [&] { return file_exists(s / "2.started"); }));
  CHECK(state_of(spool, holder) == "exited");
  touch(s / "2.release");
  CHECK(run_chaperone(spool, {"wait", second}).exit_code == 0);

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
  auto s = spool.scratch();
  std::string holder =
      start_detached(spool, held_program(s / "h.started", s / "never"), {"--lock", "host1"});
  REQUIRE(wait_until(
      deadline_in(20s), "holder to start", [&] { return file_exists(s / "h.started"); }));
  std::string waiter = start_detached(spool, {"sh", "-c", "echo got it"}, {"--lock", "host1"});
  REQUIRE(wait_for_state(spool, waiter, {"waiting"}));
  REQUIRE(::kill(supervisor_pid(spool, holder), SIGKILL) == 0);
  RunResult waited = run_chaperone(spool, {"wait", waiter});
  CHECK(waited.exit_code == 0);
  CHECK(spool.output(waiter, "stdout") == "got it\n");
  CHECK(run_chaperone(spool, {"status", holder}).out.find("lost") != std::string::npos);
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
  std::string holder =
      start_detached(spool, held_program(s / "h.started", s / "release"), {"--lock", "k"});
  REQUIRE(wait_until(
      deadline_in(20s), "holder to start", [&] { return file_exists(s / "h.started"); }));
  std::string waiter = start_detached(spool, {"touch", (s / "ran").string()}, {"--lock", "k"});
  REQUIRE(wait_for_state(spool, waiter, {"waiting"}));
  CHECK(run_chaperone(spool, {"kill", waiter}).exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", waiter}).exit_code == 75);
  CHECK(spool.state(waiter).at("error") == "cancelled by SIGTERM while waiting (lock k)");
  touch(s / "release");
  CHECK(run_chaperone(spool, {"wait", holder}).exit_code == 0);
  CHECK(!file_exists(s / "ran"));
}

TEST_CASE("slots NAME=2 let two runs run at once and the third waits for a free slot",
          "[workflows][locks]") {
  TempSpool spool;
  auto s = spool.scratch();
  std::vector<std::string> ids;
  for (const char* tag : {"1", "2", "3"}) {
    ids.push_back(start_detached(
        spool,
        held_program(s / (std::string(tag) + ".started"), s / (std::string(tag) + ".release")),
        {"--slots", "q=2"}));
    if (ids.size() < 3) {
      REQUIRE(wait_until(deadline_in(20s), std::string("run ") + tag + " to start", [&] {
        return file_exists(s / (std::string(tag) + ".started"));
      }));
    }
  }
  REQUIRE(wait_for_state(spool, ids[2], {"waiting"}));
  CHECK(!file_exists(s / "3.started"));
  touch(s / "1.release");
  REQUIRE(wait_until(
      deadline_in(20s), "third run to start", [&] { return file_exists(s / "3.started"); }));
  CHECK(state_of(spool, ids[1]) == "running");
  touch(s / "2.release");
  touch(s / "3.release");
  CHECK(run_chaperone(spool, {"wait", ids[0], ids[1], ids[2]}).exit_code == 0);
}
