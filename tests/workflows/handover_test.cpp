// tests/workflows/handover_test.cpp: a lock handed along an --after chain with nobody in
// between (exclusive -> shared included: the downgrade), waiters served first come first
// served, and SIGKILLed supervisors in the middle of it. Each program logs "start NAME" and
// "end NAME" under flock, so the log is the history of who held the lock.
#include "tests/workflows/workflows_common.hpp"

#include <signal.h>

#include <set>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

namespace {

// Waits until run ID's waiting_for names `what`.
void require_waiting_for(const TempSpool& spool, const std::string& id, const std::string& what) {
  REQUIRE(wait_until(deadline_in(60s), "run " + id + " to wait for " + what, [&] {
    nlohmann::json state = spool.state(id);
    if (!state.contains("waiting_for")) {
      return false;
    }
    const nlohmann::json& list = state["waiting_for"];
    return std::find(list.begin(), list.end(), what) != list.end();
  }));
}

std::string queue(const TempSpool& spool,
                  const std::filesystem::path& log,
                  const std::string& name,
                  std::vector<std::string> options,
                  const std::filesystem::path& release = {}) {
  options.insert(options.end(), {"--name", name});
  std::string id = start_detached(spool, logged_program(log, name, release), options);
  REQUIRE(wait_for_state(spool, id, {"waiting"}, 60s));
  return id;
}

// Starts run NAME (`--name NAME` and `options`) and waits until its program has logged its
// start: from then on it holds what it asked for.
std::string start_running(const TempSpool& spool,
                          const std::filesystem::path& log,
                          const std::string& name,
                          std::vector<std::string> options,
                          const std::filesystem::path& release) {
  options.insert(options.begin(), {"--name", name});
  std::string id = start_detached(spool, logged_program(log, name, release), options);
  REQUIRE(wait_until(
      deadline_in(60s), name + " to start", [&] { return log_has(log, "start " + name); }));
  return id;
}

std::vector<std::string> start_end(std::initializer_list<std::string> names) {
  std::vector<std::string> lines;
  for (const std::string& name : names) {
    lines.push_back("start " + name);
    lines.push_back("end " + name);
  }
  return lines;
}

void wait_all(const TempSpool& spool, std::vector<std::string> ids, int code = 0) {
  ids.insert(ids.begin(), "wait");
  CHECK(run_chaperone(spool, ids).exit_code == code);
}

} // namespace

TEST_CASE("a chain A -> B -> C on one lock hands it along while five runs wait for it, and they "
          "then get it in arrival order",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  std::string a = start_running(spool, log, "A", {"--lock", "L"}, s / "a.release");
  std::vector<std::string> ids{a};
  for (const char* x : {"X1", "X2", "X3", "X4", "X5"}) {
    ids.push_back(queue(spool, log, x, {"--lock", "L"}));
  }
  ids.push_back(start_detached(
      spool, logged_program(log, "B"), {"--name", "B", "--after-ok", "A", "--lock", "L"}));
  ids.push_back(start_detached(
      spool, logged_program(log, "C"), {"--name", "C", "--after-ok", "B", "--lock", "L"}));
  require_waiting_for(spool, "B", "lock L (exclusive, next after A)");
  require_waiting_for(spool, "C", "lock L (exclusive, next after B)");
  CHECK(spool.state("B").at("waiting_for").at(0) == "run A");

  touch(s / "a.release");
  wait_all(spool, ids);
  CHECK(log_lines(log) == start_end({"A", "B", "C", "X1", "X2", "X3", "X4", "X5"}));
}

TEST_CASE("a step skipped by --after-ok passes its place on: the next step still gets the lock "
          "before the runs that wait",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  std::string setup = start_detached(spool,
                                     {"sh",
                                      "-c",
                                      "echo 'start setup' >> \"$1\"; while [ ! -e \"$2\" ]; do "
                                      "sleep 0.02; done; echo 'end setup' >> \"$1\"; exit 1",
                                      "setup",
                                      log.string(),
                                      (s / "go").string()},
                                     {"--name", "setup", "--lock", "host1"});
  REQUIRE(
      wait_until(deadline_in(60s), "setup to start", [&] { return log_has(log, "start setup"); }));
  std::string other = queue(spool, log, "other", {"--lock", "host1"});
  std::string tests = start_detached(spool,
                                     logged_program(log, "tests"),
                                     {"--name", "tests", "--after-ok", "setup", "--lock", "host1"});
  std::string cleanup =
      start_detached(spool,
                     logged_program(log, "cleanup"),
                     {"--name", "cleanup", "--after", "tests", "--lock", "host1"});
  require_waiting_for(spool, "cleanup", "lock host1 (exclusive, next after tests)");

  touch(s / "go");
  wait_all(spool, {cleanup, other});
  CHECK(state_of(spool, "tests") == "skipped");
  CHECK(log_lines(log) == start_end({"setup", "cleanup", "other"}));
}

TEST_CASE("exclusive -> shared along a chain is a downgrade with no gap: the shared step and the "
          "shared waiters get in together, the exclusive waiter only after them",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  std::string provision = start_running(spool, log, "P", {"--lock", "vm"}, s / "p.release");
  std::string s1 = queue(spool, log, "S1", {"--lock", "vm:shared"}, s / "jobs.release");
  std::string s2 = queue(spool, log, "S2", {"--lock", "vm:shared"}, s / "jobs.release");
  std::string x = queue(spool, log, "X", {"--lock", "vm"});
  std::string job = start_detached(spool,
                                   logged_program(log, "J", s / "jobs.release"),
                                   {"--name", "J", "--after-ok", "P", "--lock", "vm:shared"});
  require_waiting_for(spool, "J", "lock vm (shared, next after P)");

  touch(s / "p.release");
  REQUIRE(wait_until(deadline_in(60s), "J, S1 and S2 to share vm", [&] {
    return log_has(log, "start J") && log_has(log, "start S1") && log_has(log, "start S2");
  }));
  CHECK(state_of(spool, x) == "waiting");
  touch(s / "jobs.release");
  wait_all(spool, {provision, s1, s2, x, job});

  std::vector<std::string> lines = log_lines(log);
  REQUIRE(lines.size() == 10);
  CHECK(std::vector<std::string>(lines.begin(), lines.begin() + 2) == start_end({"P"}));
  CHECK(std::set<std::string>(lines.begin() + 2, lines.begin() + 5)
        == std::set<std::string>{"start J", "start S1", "start S2"});
  CHECK(std::set<std::string>(lines.begin() + 5, lines.begin() + 8)
        == std::set<std::string>{"end J", "end S1", "end S2"});
  CHECK(std::vector<std::string>(lines.begin() + 8, lines.end()) == start_end({"X"}));
}

TEST_CASE("ten waiters on --slots q=1 start in the order they began to wait",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  HeldRun holder = start_holder(spool, "holder", {"--slots", "q=1"});
  std::vector<std::string> ids{holder.id};
  std::vector<std::string> expected;
  for (int i = 1; i <= 10; ++i) {
    ids.push_back(queue(spool, log, "W" + std::to_string(i), {"--slots", "q=1"}));
    expected.push_back("start W" + std::to_string(i));
    expected.push_back("end W" + std::to_string(i));
  }
  holder.let_go();
  wait_all(spool, ids);
  CHECK(log_lines(log) == expected);
}

TEST_CASE("a SIGKILLed waiter leaves the line: the slot goes to the next one in order",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  HeldRun holder = start_holder(spool, "holder", {"--slots", "q=1"});
  std::string w1 = queue(spool, log, "W1", {"--slots", "q=1"});
  std::string w2 = queue(spool, log, "W2", {"--slots", "q=1"});
  std::string w3 = queue(spool, log, "W3", {"--slots", "q=1"});
  REQUIRE(::kill(spool.state(w2).at("supervisor_pid").get<pid_t>(), SIGKILL) == 0);
  holder.let_go();
  wait_all(spool, {holder.id, w1, w3});
  CHECK(run_chaperone(spool, {"wait", w2}).exit_code == 125);
  CHECK(state_of(spool, w2) == "lost");
  CHECK(log_lines(log) == start_end({"W1", "W3"}));
}

TEST_CASE("a supervisor SIGKILLed in the middle of a hand-over: the next in the chain still gets "
          "the lock first, and nothing hangs",
          "[workflows][handover]") {
  TempSpool spool;
  auto s = spool.scratch();
  auto log = s / "log";
  std::string a = start_running(spool, log, "A", {"--lock", "L"}, s / "a.release");
  std::string x1 = queue(spool, log, "X1", {"--lock", "L"});

  SECTION("the waiting successor dies: the one after it takes its place") {
    start_detached(spool, logged_program(log, "B"), {"--name", "B", "--after", "A", "--lock", "L"});
    start_detached(spool, logged_program(log, "C"), {"--name", "C", "--after", "B", "--lock", "L"});
    require_waiting_for(spool, "C", "lock L (exclusive, next after B)");
    std::string x2 = queue(spool, log, "X2", {"--lock", "L"});
    REQUIRE(::kill(spool.state("B").at("supervisor_pid").get<pid_t>(), SIGKILL) == 0);
    touch(s / "a.release");
    wait_all(spool, {a, "C", x1, x2});
    CHECK(state_of(spool, "B") == "lost");
    CHECK(log_lines(log) == start_end({"A", "C", "X1", "X2"}));
  }
  SECTION("the holder dies: its --after successor gets the lock before the waiters") {
    start_detached(spool, logged_program(log, "B"), {"--name", "B", "--after", "A", "--lock", "L"});
    require_waiting_for(spool, "B", "lock L (exclusive, next after A)");
    REQUIRE(::kill(spool.state(a).at("supervisor_pid").get<pid_t>(), SIGKILL) == 0);
    wait_all(spool, {"B", x1});
    CHECK(state_of(spool, a) == "lost");
    touch(s / "a.release"); // A's program outlived its supervisor; let it end
    std::vector<std::string> lines = log_lines(log);
    // A's program may log "end A" anywhere after its release; the lock went B, then X1.
    lines.erase(std::remove(lines.begin(), lines.end(), "end A"), lines.end());
    CHECK(lines == std::vector<std::string>{"start A", "start B", "end B", "start X1", "end X1"});
  }
}
