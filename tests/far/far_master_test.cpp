// tests/far/far_master_test.cpp: far-held runs of one spool share one ssh connection per host
// (the automatic master under SPOOL/.far/); after a cut of that connection they come back
// through a new shared master, and both end byte-exact with their far exit codes.
#include "tests/far/far_fixture.hpp"

#include <csignal>
#include <filesystem>
#include <set>

using namespace chaperone::test;

namespace {

// The automatic master sockets of the spool (not their lock files).
std::vector<std::string> master_sockets(const TempSpool& spool) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(spool.root() / ".far", ec)) {
    if (entry.is_socket()) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

// The pid of the master answering on `socket`, from `ssh -O check` ("Master running
// (pid=N)"); 0 when none answers.
pid_t master_pid(const std::string& socket) {
  CmdResult check = run_cmd({"ssh", "-o", "ControlPath=" + socket, "-O", "check", "far-master"});
  size_t at = check.err.find("(pid=");
  if (check.exit_code != 0 || at == std::string::npos) {
    return 0;
  }
  return static_cast<pid_t>(std::stoi(check.err.substr(at + 5)));
}

// The per-connection sshd processes that carry the far attach of `far_id`.
std::set<pid_t> connections_of(const std::string& user, const std::string& far_id) {
  std::set<pid_t> found;
  for (pid_t pid : far_pids(user, {"attach", "--json", far_id})) {
    for (pid_t s : session_sshds(pid)) {
      found.insert(s);
    }
  }
  return found;
}

bool link_up(const TempSpool& spool, const std::string& id) {
  return link_of(spool, id).value("state", "") == "up";
}

} // namespace

TEST_CASE("far: two runs on one host share one automatic ssh master, and both come back "
          "through a new one after the link is cut",
          "[ssh]") {
  const std::string user = "chapfar8";
  fresh_far_user(user);
  TempSpool spool;
  FarCleanup cleanup;
  std::string gate = sshd().shared_dir() + "/gate";
  auto program = [&](int code) -> Args {
    return {"sh",
            "-c",
            "i=0; while [ ! -e \"$1\" ]; do i=$((i+1)); echo \"out $i\"; echo \"err $i\" >&2; "
            "sleep 0.05; done; echo end; exit $2",
            "sh",
            gate,
            std::to_string(code)};
  };
  const std::vector<int> codes{5, 6};
  std::vector<std::string> ids;
  for (int code : codes) {
    ids.push_back(start_detached(spool, far_options(user), program(code)));
  }
  std::vector<std::string> far_ids;
  for (const std::string& id : ids) {
    REQUIRE(wait_until(deadline_in(120s), "the far run up and mirrored", [&] {
      return link_up(spool, id) && spool.output_size(id, "stdout") > 0;
    }));
    far_ids.push_back(far_id_of(spool, id));
    cleanup.add(user, far_ids.back());
  }

  // One socket, one master process, and both far attaches behind one sshd connection.
  std::vector<std::string> sockets = master_sockets(spool);
  REQUIRE(sockets.size() == 1);
  pid_t first_master = master_pid(sockets[0]);
  REQUIRE(first_master > 0);
  std::set<pid_t> shared;
  REQUIRE(wait_until(deadline_in(30s), "both attaches on one connection", [&] {
    std::set<pid_t> a = connections_of(user, far_ids[0]);
    std::set<pid_t> b = connections_of(user, far_ids[1]);
    shared = a;
    return !a.empty() && a == b;
  }));

  std::vector<int> drops_before;
  for (const std::string& id : ids) {
    drops_before.push_back(link_of(spool, id).value("drops", 0));
  }
  {
    LinkCut cut;
    REQUIRE(wait_until(deadline_in(60s), "both mirrors to see the link down", [&] {
      for (size_t i = 0; i < ids.size(); ++i) {
        nlohmann::json link = link_of(spool, ids[i]);
        if (link.value("state", "") != "down" || link.value("drops", 0) <= drops_before[i]) {
          return false;
        }
      }
      return true;
    }));
    // The old master dies with its connection (its keepalive gives up).
    REQUIRE(wait_until(
        deadline_in(30s), "the old master to end", [&] { return !process_running(first_master); }));
    CHECK(spool.state(ids[0])["state"] == "running");
    CHECK(spool.state(ids[1])["state"] == "running");
  }
  for (pid_t pid : shared) {
    ::kill(pid, SIGKILL); // the far end of the dead connection, if sshd has not noticed yet
  }

  for (const std::string& id : ids) {
    std::uintmax_t before = spool.output_size(id, "stdout");
    REQUIRE(wait_until(deadline_in(90s), "the link back up and output flowing", [&] {
      return link_up(spool, id) && spool.output_size(id, "stdout") > before;
    }));
  }
  sockets = master_sockets(spool);
  REQUIRE(sockets.size() == 1);
  pid_t second_master = master_pid(sockets[0]);
  CHECK(second_master > 0);
  CHECK(second_master != first_master);
  REQUIRE(wait_until(deadline_in(30s), "both attaches on one new connection", [&] {
    std::set<pid_t> a = connections_of(user, far_ids[0]);
    std::set<pid_t> b = connections_of(user, far_ids[1]);
    return !a.empty() && a == b && a != shared;
  }));

  write_whole_file(gate, "", 0644);
  for (size_t i = 0; i < ids.size(); ++i) {
    RunOptions options;
    options.deadline = 120s;
    RunResult waited = run_chaperone(spool, {"wait", ids[i]}, options);
    nlohmann::json state = spool.state(ids[i]);
    INFO("state: " << state.dump());
    CHECK(waited.exit_code == codes[i]);
    CHECK(state["state"] == "exited");
    std::string far_dir = far_spool(user) + "/" + far_ids[i];
    std::string out = spool.output(ids[i], "stdout");
    std::string err = spool.output(ids[i], "stderr");
    CHECK(out == read_whole_file(far_dir + "/stdout"));
    CHECK(err == read_whole_file(far_dir + "/stderr"));
    int lines = static_cast<int>(std::count(out.begin(), out.end(), '\n')) - 1;
    std::string expected_out;
    std::string expected_err;
    for (int line = 1; line <= lines; ++line) {
      expected_out += "out " + std::to_string(line) + "\n";
      expected_err += "err " + std::to_string(line) + "\n";
    }
    CHECK(out == expected_out + "end\n");
    CHECK(err == expected_err);
  }

  // The master would linger for ControlPersist: end it, by pid.
  if (second_master > 0) {
    ::kill(second_master, SIGTERM);
    CHECK(wait_until(
        deadline_in(10s), "the master to end", [&] { return !process_running(second_master); }));
  }
}
