// tests/far/far_plain_test.cpp: the plain mode (`--hold link`) after a dropped link: when the
// supervisor cannot reach the far side to end the program's group, it records so, and a
// later `chaperone kill` still reaches that group once the link is back.
#include "tests/far/far_fixture.hpp"

#include <filesystem>

using namespace chaperone::test;

TEST_CASE("plain remote run: a group the supervisor could not end after the drop is ended by a "
          "later kill",
          "[ssh]") {
  TempSpool spool;
  std::string shared = sshd().shared_dir();
  std::string gate = shared + "/gate";
  std::string token = random_token();
  Route route{Via::ssh,
              "chapbash",
              false,
              {"ServerAliveInterval=1", "ServerAliveCountMax=2", "ConnectTimeout=2"}};
  Args options{"--env", token_env(token), "--kill-after", "1s"};
  Args rest = sshd().options(route);
  options.insert(options.end(), rest.begin(), rest.end());
  std::string id = start_detached(
      spool,
      options,
      {"sh", "-c", "echo up; while [ ! -e \"$1\" ]; do sleep 0.05; done; echo after", "sh", gate});
  nlohmann::json running = wait_remote_recorded(spool, id);
  pid_t far_pid = running["remote"]["pid"].get<pid_t>();
  auto far_ticks = process_start_ticks(far_pid);
  nlohmann::json state;
  {
    LinkCut cut;
    state = wait_final_state(spool, id, 60s);
  }
  INFO("state: " << state.dump());
  CHECK(state["state"] == "failed");
  CHECK(state.value("error", "").rfind("connection lost", 0) == 0);
  CHECK(state["far_group"]["ended"] == false);
  CHECK(state["far_group"]["result"].get<std::string>().rfind("far host unreachable", 0) == 0);
  REQUIRE(process_running(far_pid, far_ticks)); // the orphan the supervisor could not reach

  RunResult killed = run_chaperone(spool, {"kill", id});
  INFO(killed.err);
  CHECK(killed.exit_code == 0);
  CHECK(wait_until(deadline_in(20s), "the far program to be ended by kill", [&] {
    return !process_running(far_pid, far_ticks);
  }));
  CHECK(far_processes(token, state.value("status_nonce", "")).empty());
}
