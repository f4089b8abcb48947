// tests/remote_run/kill_test.cpp: `chaperone kill` and `--timeout` reach the far process
// group: afterwards no process of the run is left on the far side (which is this machine,
// so /proc shows it: every far process of a run carries the run's token in its environ).
#include "tests/remote_run/fixture.hpp"

using namespace chaperone::test;

namespace {

// A program with children, grandchildren and a subshell, all in its group; prints "ready"
// once they are started.
const Args k_family{
    "sh", "-c", "sleep 300 & (sleep 301; echo x) & sh -c 'sleep 302; :' & echo ready; wait"};

struct Started {
  std::string id;
  std::string token;
  std::string nonce;
  pid_t pgid = 0;
};

Started start_family(const TempSpool& spool,
                     const Route& route,
                     const Args& extra = {},
                     const Args& program = k_family) {
  Started s;
  s.token = random_token();
  Args options{"--env", token_env(s.token)};
  options.insert(options.end(), extra.begin(), extra.end());
  Args rest = sshd().options(route);
  options.insert(options.end(), rest.begin(), rest.end());
  s.id = start_detached(spool, options, program);
  nlohmann::json state = wait_remote_recorded(spool, s.id);
  s.nonce = state.value("status_nonce", "");
  s.pgid = state["remote"]["pgid"].get<pid_t>();
  REQUIRE(wait_until(deadline_in(20s), "the program to print ready", [&] {
    return spool.output(s.id, "stdout") == "ready\n";
  }));
  // The detector works: the program and its children are seen before the kill.
  std::vector<std::string> before = far_processes(s.token, s.nonce, s.pgid);
  INFO("far processes before: " << before.size());
  CHECK(before.size() >= 3);
  return s;
}

void check_nothing_left(const Started& s) {
  std::vector<std::string> left;
  bool gone = wait_until(deadline_in(10s), "no far-side process of the run left", [&] {
    left = far_processes(s.token, s.nonce, s.pgid);
    return left.empty();
  });
  if (!gone) {
    std::string all;
    for (const std::string& line : left) {
      all += line + "\n";
    }
    FAIL_CHECK("left on the far side:\n" << all);
  }
}

} // namespace

TEST_CASE("chaperone kill of a remote run ends its whole far process group as signaled 143 "
          "with nothing left",
          "[ssh][sudo]") {
  for (Via via : ssh_vias()) {
    Route route{via, "chapbash"};
    INFO(to_string(via));
    TempSpool spool;
    Started s = start_family(spool, route);
    RunResult k = run_chaperone(spool, {"kill", s.id});
    INFO("kill stderr: " << k.err);
    CHECK(k.exit_code == 0);
    nlohmann::json state = wait_final_state(spool, s.id);
    INFO("state.json: " << state.dump());
    CHECK(state["state"] == "signaled");
    CHECK(state["signal"] == 15);
    CHECK(state["exit_code"] == 143);
    check_nothing_left(s);
  }
}

TEST_CASE("chaperone kill -s KILL of a remote run ends it signaled 137 with nothing left",
          "[ssh]") {
  TempSpool spool;
  Started s = start_family(spool, {Via::ssh, "chapsh"});
  RunResult k = run_chaperone(spool, {"kill", "-s", "KILL", s.id});
  INFO("kill stderr: " << k.err);
  CHECK(k.exit_code == 0);
  nlohmann::json state = wait_final_state(spool, s.id);
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "signaled");
  CHECK(state["exit_code"] == 137);
  check_nothing_left(s);
}

TEST_CASE("a remote program that ignores TERM is killed after chaperone kill's grace",
          "[ssh][sudo]") {
  TempSpool spool;
  // An ignored TERM is inherited by the children too.
  Args program{"sh", "-c", "trap '' TERM; sleep 300 & sleep 301 & echo ready; wait"};
  Started s = start_family(spool, {Via::ssh_then_sudo, "chapsh"}, {}, program);
  RunResult k = run_chaperone(spool, {"kill", "--grace", "1s", s.id});
  INFO("kill stderr: " << k.err);
  CHECK(k.exit_code == 0);
  nlohmann::json state = wait_final_state(spool, s.id);
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "signaled");
  CHECK(state["exit_code"] == 137);
  check_nothing_left(s);
}

static void check_timeout(const Route& route, const Args& program) {
  INFO(to_string(route.via));
  TempSpool spool;
  Started s = start_family(spool, route, {"--timeout", "2s", "--kill-after", "1s"}, program);
  RunResult w = run_chaperone(spool, {"wait", s.id});
  CHECK(w.exit_code == 124);
  nlohmann::json state = wait_final_state(spool, s.id);
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "timed_out");
  CHECK(state["exit_code"] == 124);
  check_nothing_left(s);
}

TEST_CASE("a remote run past its --timeout ends timed_out 124 with nothing left on the far side",
          "[ssh][sudo]") {
  for (Via via : ssh_vias()) {
    check_timeout({via, "chapzsh"}, k_family);
  }
}

// Pins that --timeout reaches a far program that ignores TERM: after --kill-after the remote
// KILL is sent even though the local ssh client has already ended (it once was not, and the
// far `sh` and `sleep` outlived a run recorded timed_out).
TEST_CASE("a remote program that ignores TERM is killed after --timeout and --kill-after with "
          "nothing left",
          "[ssh][sudo]") {
  Args program{"sh", "-c", "trap '' TERM; sleep 300 & sleep 301 & echo ready; wait"};
  check_timeout({Via::ssh_then_sudo, "chapsh"}, program);
}

TEST_CASE("an attached remote run with --timeout makes the front end exit 124", "[ssh]") {
  TempSpool spool;
  std::string token = random_token();
  Args options{"--env", token_env(token), "--timeout", "1s", "--kill-after", "1s"};
  Args rest = sshd().options({Via::ssh, "chapsh"});
  options.insert(options.end(), rest.begin(), rest.end());
  RunResult r = run_chaperone(spool, run_args(options, {"sh", "-c", "echo started; sleep 300"}));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 124);
  CHECK(r.out == "started\n");
  std::string id = spool.only_run_id();
  CHECK(spool.state(id)["state"] == "timed_out");
  CHECK(wait_until(
      deadline_in(10s), "no far process left", [&] { return far_processes(token).empty(); }));
}

TEST_CASE("a remote program that exits while its background child holds the output ends with its "
          "own code and leaves nothing behind",
          "[ssh]") {
  TempSpool spool;
  std::string token = random_token();
  Args options{"--env", token_env(token), "--kill-after", "1s"};
  Args rest = sshd().options({Via::ssh, "chapbash"});
  options.insert(options.end(), rest.begin(), rest.end());
  // The child keeps ssh's stdout and stderr open after the program's exit marker.
  RunOptions within;
  within.deadline = 20s;
  RunResult r = run_chaperone(
      spool, run_args(options, {"sh", "-c", "sleep 300 & echo done; exit 3"}), within);
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.deadline_missed);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "done\n");
  nlohmann::json state = spool.state(spool.only_run_id());
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "exited");
  CHECK(state["return_code"] == 3);
  std::vector<std::string> left;
  bool gone = wait_until(deadline_in(10s), "the background child to be ended", [&] {
    left = far_processes(token);
    return left.empty();
  });
  if (!gone) {
    FAIL_CHECK("left on the far side: " << left.front());
  }
}

TEST_CASE("a remote program reads --stdin byte-exact through ssh", "[ssh][sudo]") {
  for (Via via : ssh_vias()) {
    INFO(to_string(via));
    TempSpool spool;
    std::string input = (spool.scratch() / "input").string();
    std::string data = pattern_bytes(99, 0, 3 * 1024 * 1024 + 17);
    write_whole_file(input, data, 0644);
    Args options{"--stdin", input};
    Args rest = sshd().options({via, "chapsh"});
    options.insert(options.end(), rest.begin(), rest.end());
    RunResult r = run_chaperone(spool, run_args(options, {"cat"}));
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == data.size());
    CHECK((r.out == data));
    CHECK(spool.output(spool.only_run_id(), "stdout").size() == data.size());
  }
}

TEST_CASE("chaperone kill of an attached remote run makes the attached front end exit 143",
          "[ssh]") {
  TempSpool spool;
  std::string token = random_token();
  Args options{"--env", token_env(token), "--name", "attached"};
  Args rest = sshd().options({Via::ssh, "chapfish"});
  options.insert(options.end(), rest.begin(), rest.end());
  ChaperoneProcess run(spool, run_args(options, {"sh", "-c", "echo ready; sleep 300 & wait"}));
  REQUIRE(run.read_until(
      deadline_in(20s), "the program to print ready", [&] { return run.out() == "ready\n"; }));
  wait_remote_recorded(spool, "attached");
  RunResult k = run_chaperone(spool, {"kill", "attached"});
  INFO("kill stderr: " << k.err);
  CHECK(k.exit_code == 0);
  RunResult r = run.finish();
  CHECK(r.exit_code == 143);
  CHECK(spool.state("attached")["state"] == "signaled");
  CHECK(wait_until(
      deadline_in(10s), "no far process left", [&] { return far_processes(token).empty(); }));
}
