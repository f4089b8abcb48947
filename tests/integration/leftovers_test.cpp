// tests/integration/leftovers_test.cpp: processes the program leaves behind are ended
// (SIGTERM, then SIGKILL after --kill-after) without delaying the run forever, and
// --timeout ends the whole run with 124.
#include "tests/integration/common.hpp"

#include <signal.h>

#include <sstream>

using namespace chaperone::test;

namespace {

// The pids a program printed, one per line, with their start times read right away.
std::vector<std::pair<pid_t, std::optional<std::uint64_t>>> pids_in(const std::string& text) {
  std::vector<std::pair<pid_t, std::optional<std::uint64_t>>> pids;
  std::istringstream in(text);
  pid_t pid;
  while (in >> pid) {
    pids.emplace_back(pid, process_start_ticks(pid));
  }
  return pids;
}

} // namespace

TEST_CASE("a background child holding stdout does not delay the end and is ended by pid",
          "[integration][leftovers]") {
  // Plain background job; one in a new session; one double-forked (its parent exits first).
  std::string script = GENERATE(std::string("sleep 1000 & echo $!"),
                                std::string("setsid sleep 1000 & echo $!"),
                                std::string("( sleep 1000 & echo $! ) ; echo parent-done >&2"));
  INFO("script: " << script);
  TempSpool spool;
  RunResult r =
      run_chaperone(spool, {"run", "--kill-after", "5s", "--", "sh", "-c", script}, within(20s));
  CHECK(r.exit_code == 0);
  CHECK(r.elapsed < 4s); // SIGTERM ends them at once; the 5 s grace is not waited out
  auto pids = pids_in(r.out);
  REQUIRE(pids.size() == 1);
  // The run is final only once no leftover can write to its files any more.
  CHECK_FALSE(process_running(pids[0].first, pids[0].second));
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "exited");
}

TEST_CASE("a leftover that ignores SIGTERM gets SIGKILL after --kill-after",
          "[integration][leftovers]") {
  TempSpool spool;
  // The program waits until the leftover has installed its trap: a TERM that arrives before
  // the `trap` ran would end it at once and test nothing.
  std::string script = "sh -c 'trap \"\" TERM; touch \"$0\"; exec sleep 1000' \"$1\" & "
                       "while [ ! -e \"$1\" ]; do sleep 0.01; done; echo $!";
  std::string ready = (spool.scratch() / "leftover-ready").string();
  RunResult r = run_chaperone(
      spool, {"run", "--kill-after", "300ms", "--", "sh", "-c", script, "sh", ready}, within(20s));
  CHECK(r.exit_code == 0);
  CHECK(r.elapsed >= 300ms);
  CHECK(r.elapsed < 10s);
  auto pids = pids_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(process_running(pids[0].first, pids[0].second));
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "exited");
  CHECK(st["return_code"] == 0);
  // signals_sent records the SIGKILL that ended the leftover, with its reason.
  REQUIRE(st["signals_sent"].is_array());
  bool leftover_kill = false;
  for (const auto& sent : st["signals_sent"]) {
    leftover_kill = leftover_kill
                    || (sent["signal"] == SIGKILL && sent["name"] == "SIGKILL"
                        && sent["reason"] == "leftovers" && sent["time"].is_string());
  }
  INFO("signals_sent: " << st["signals_sent"].dump());
  CHECK(leftover_kill);
}

TEST_CASE("the --keep-children option leaves the program's background children running",
          "[integration][leftovers]") {
  TempSpool spool;
  RunResult r = run_chaperone(
      spool, {"run", "--keep-children", "--", "sh", "-c", "sleep 1000 & echo $!"}, within(20s));
  CHECK(r.exit_code == 0);
  auto pids = pids_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK(process_running(pids[0].first, pids[0].second));
  if (process_running(pids[0].first, pids[0].second)) {
    ::kill(pids[0].first, SIGKILL);
  }
}

TEST_CASE("the --timeout option ends the run with 124 and state timed_out",
          "[integration][leftovers]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool,
                              {"run",
                               "--timeout",
                               "300ms",
                               "--kill-after",
                               "5s",
                               "--",
                               "sh",
                               "-c",
                               "echo $$; exec sleep 1000"},
                              within(20s));
  CHECK(r.exit_code == 124);
  CHECK(r.elapsed >= 300ms);
  CHECK(r.elapsed < 4s); // sleep dies of the SIGTERM; the grace is not waited out
  INFO("stderr: " << r.err);
  CHECK(r.err_lines().size() == 1);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "timed_out");
  CHECK(st["exit_code"] == 124);
  CHECK(st["error"].is_string());
  auto pids = pids_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(process_running(pids[0].first, pids[0].second));
}

TEST_CASE("the --timeout option escalates to SIGKILL for a program that ignores SIGTERM",
          "[integration][leftovers]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool,
                              {"run",
                               "--timeout",
                               "200ms",
                               "--kill-after",
                               "300ms",
                               "--",
                               "sh",
                               "-c",
                               "trap '' TERM; echo $$; while :; do sleep 1; done"},
                              within(20s));
  CHECK(r.exit_code == 124);
  CHECK(r.elapsed >= 500ms);
  CHECK(r.elapsed < 10s);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "timed_out");
  auto pids = pids_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(process_running(pids[0].first, pids[0].second));
}
