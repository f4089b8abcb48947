// tests/far/far_signal_test.cpp: kill and --timeout of far-held runs, also while the link is
// down; sudo modes run in the sudo user's own spool and cache.
#include "tests/far/far_fixture.hpp"

#include <filesystem>

using namespace chaperone::test;

namespace {

RunOptions deadline(std::chrono::milliseconds d) {
  RunOptions options;
  options.deadline = d;
  return options;
}

std::string start_and_launch(const TempSpool& spool, const Args& options, const Args& program) {
  std::string id = start_detached(spool, options, program);
  REQUIRE(wait_until(deadline_in(120s), "the far run to start and the link to be up", [&] {
    nlohmann::json state = spool.state(id);
    return state.contains("far") && state["far"].value("phase", "") == "launched"
           && link_of(spool, id).value("state", "") == "up";
  }));
  return id;
}

nlohmann::json far_state(const std::string& user, const std::string& far_id) {
  return nlohmann::json::parse(read_whole_file(far_spool(user) + "/" + far_id + "/state.json"));
}

} // namespace

TEST_CASE("far: kill while the link is down is queued and carried out once it is back", "[ssh]") {
  const std::string user = "chapfar4";
  fresh_far_user(user);
  TempSpool spool;
  FarCleanup cleanup;
  std::string id =
      start_and_launch(spool, far_options(user), {"sh", "-c", "echo started; exec sleep 600"});
  std::string far_id = far_id_of(spool, id);
  cleanup.add(user, far_id);
  REQUIRE(wait_until(
      deadline_in(30s), "output", [&] { return spool.output(id, "stdout") == "started\n"; }));
  {
    LinkCut cut;
    REQUIRE(wait_until(deadline_in(30s), "the link to be seen down", [&] {
      return link_of(spool, id).value("state", "") == "down";
    }));
    RunResult killed = run_chaperone(spool, {"kill", "--grace", "1s", id}, deadline(60s));
    INFO(killed.err);
    CHECK(killed.exit_code == 0);
    CHECK(killed.err.find("stays queued") != std::string::npos);
    CHECK(spool.state(id)["state"] == "running");
    CHECK(far_state(user, far_id)["state"] == "running"); // nothing got through
  }
  nlohmann::json state = wait_final_state(spool, id, 60s);
  INFO(state.dump());
  CHECK(state["state"] == "signaled");
  CHECK(state["signal"] == 15);
  CHECK(state["exit_code"] == 143);
  CHECK(far_state(user, far_id)["state"] == "signaled");
  CHECK(far_pids(user, {"sleep", "600"}).empty());

  // kill -s on a run whose link is up goes through at once.
  std::string second = start_and_launch(spool, far_options(user), {"sleep", "600"});
  cleanup.add(user, far_id_of(spool, second));
  RunResult usr1 = run_chaperone(spool, {"kill", "-s", "KILL", second});
  CHECK(usr1.exit_code == 0);
  nlohmann::json second_state = wait_final_state(spool, second, 30s);
  CHECK(second_state["state"] == "signaled");
  CHECK(second_state["signal"] == 9);
}

TEST_CASE("far: --timeout is enforced over there while the link is down, and the outcome comes "
          "home when it is back",
          "[ssh]") {
  const std::string user = "chapfar7";
  fresh_far_user(user);
  TempSpool spool;
  FarCleanup cleanup;
  Args options = far_options(user);
  options.insert(options.end(), {"--timeout", "4s", "--kill-after", "1s"});
  std::string id = start_and_launch(spool, options, {"sh", "-c", "echo t; exec sleep 600"});
  std::string far_id = far_id_of(spool, id);
  cleanup.add(user, far_id);
  {
    LinkCut cut;
    REQUIRE(wait_until(deadline_in(60s), "the far run to time out while the link is down", [&] {
      return far_state(user, far_id).value("state", "") == "timed_out";
    }));
    CHECK(spool.state(id)["state"] == "running");
  }
  nlohmann::json state = wait_final_state(spool, id, 60s);
  INFO(state.dump());
  CHECK(state["state"] == "timed_out");
  CHECK(state["exit_code"] == 124);
  CHECK(spool.output(id, "stdout") == "t\n");
  RunResult w = run_chaperone(spool, {"wait", id});
  CHECK(w.exit_code == 124);
}

TEST_CASE("far: ssh-then-sudo and sudo-then-ssh run in the far user's own spool and cache",
          "[ssh][sudo]") {
  TempSpool spool;
  FarCleanup cleanup;
  for (Via via : {Via::ssh_then_sudo, Via::sudo_then_ssh}) {
    Route route{via, "chapsh"};
    std::string user = far_user(route);
    INFO(to_string(via) << " as " << user);
    std::filesystem::remove_all(far_cache(user));
    RunResult r =
        run_chaperone(spool, run_args(far_options("chapsh", via), {"sh", "-c", "id -un; exit 5"}));
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(r.out == user + "\n");
    for (const std::string& id : spool.run_ids()) {
      nlohmann::json state = spool.state(id);
      cleanup.add(state["far"]["user"], state["far"]["run_id"]);
    }
    CHECK(std::filesystem::exists(far_cache(user)));
    CHECK(owner_of_path(far_cache(user)) == uid_of(user));
  }
}
