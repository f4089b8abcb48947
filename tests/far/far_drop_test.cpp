// tests/far/far_drop_test.cpp: a far-held run outlives 20 dropped links (its sshd session
// SIGKILLed, SIGSTOPped, or its packets dropped by iptables) and a SIGKILLed local
// supervisor; the local spool ends byte-for-byte equal to the far one, with the far exit code.
#include "tests/far/far_fixture.hpp"

#include <csignal>
#include <filesystem>

using namespace chaperone::test;

namespace {

RunOptions deadline(std::chrono::milliseconds d) {
  RunOptions options;
  options.deadline = d;
  return options;
}

enum class Cut { kill_sshd, stop_sshd, iptables };

const char* name(Cut cut) {
  switch (cut) {
  case Cut::kill_sshd:
    return "SIGKILL sshd";
  case Cut::stop_sshd:
    return "SIGSTOP sshd";
  case Cut::iptables:
    return "iptables DROP";
  }
  return "?";
}

} // namespace

TEST_CASE("far: a run outlives 20 link drops and a SIGKILLed local supervisor with byte-exact "
          "output and the far exit code",
          "[ssh]") {
  const std::string user = "chapfar3";
  fresh_far_user(user);
  TempSpool spool;
  FarCleanup cleanup;
  std::string gate = sshd().shared_dir() + "/gate";
  std::string id = start_detached(
      spool,
      far_options(user),
      {"sh",
       "-c",
       "i=0; while [ ! -e \"$1\" ]; do i=$((i+1)); echo \"out $i\"; echo \"err $i\" >&2; "
       "sleep 0.02; done; echo end; exit 3",
       "sh",
       gate});
  REQUIRE(wait_until(deadline_in(120s), "the far run to start", [&] {
    nlohmann::json state = spool.state(id);
    return state.contains("far") && state["far"].value("phase", "") == "launched";
  }));
  std::string far_id = far_id_of(spool, id);
  cleanup.add(user, far_id);
  std::string far_dir = far_spool(user) + "/" + far_id;

  int drops_seen = 0;
  for (int drop = 0; drop < 20; ++drop) {
    Cut cut = static_cast<Cut>(drop % 3);
    INFO("drop " << drop << " by " << name(cut));
    std::uintmax_t before = spool.output_size(id, "stdout");
    REQUIRE(wait_until(deadline_in(60s), "the link up and output flowing", [&] {
      return link_of(spool, id).value("state", "") == "up"
             && spool.output_size(id, "stdout") > before;
    }));
    int drops_before = link_of(spool, id).value("drops", 0);
    std::vector<pid_t> attach = far_pids(user, {"attach", "--json", far_id});
    REQUIRE(!attach.empty());
    std::vector<pid_t> sessions;
    for (pid_t pid : attach) {
      for (pid_t s : session_sshds(pid)) {
        sessions.push_back(s);
      }
    }
    REQUIRE(!sessions.empty());
    {
      std::optional<LinkCut> dropped;
      if (cut == Cut::iptables) {
        dropped.emplace();
      }
      for (pid_t pid : sessions) {
        if (cut != Cut::iptables) {
          ::kill(pid, cut == Cut::kill_sshd ? SIGKILL : SIGSTOP);
        }
      }
      REQUIRE(wait_until(deadline_in(30s), "the mirror to notice the drop", [&] {
        nlohmann::json link = link_of(spool, id);
        return link.value("state", "") == "down" && link.value("drops", 0) > drops_before;
      }));
      // The run stays running locally while the link is down.
      CHECK(spool.state(id)["state"] == "running");
      for (pid_t pid : sessions) {
        ::kill(pid, SIGKILL); // a stopped session would hold the far pipes forever
      }
    }
    ++drops_seen;
    if (drop == 10) {
      // The local supervisor dies; the next reader starts a new one, which catches up.
      nlohmann::json state = spool.state(id);
      pid_t supervisor = state["supervisor_pid"].get<pid_t>();
      REQUIRE(::kill(supervisor, SIGKILL) == 0);
      REQUIRE(wait_until(deadline_in(10s), "the local supervisor to die", [&] {
        return !process_running(supervisor);
      }));
      RunResult status = run_chaperone(spool, {"status", id});
      INFO(status.err);
      CHECK(status.exit_code == 0);
      nlohmann::json after = spool.state(id);
      CHECK(after["state"] == "running");
      REQUIRE(wait_until(deadline_in(10s), "a new local supervisor", [&] {
        nlohmann::json now = spool.state(id);
        return now.value("mirror_starts", 0) == 2 && now["supervisor_pid"] != supervisor;
      }));
    }
  }
  write_whole_file(gate, "", 0644);
  RunResult waited = run_chaperone(spool, {"wait", id}, deadline(120s));
  nlohmann::json state = spool.state(id);
  INFO("state: " << state.dump());
  CHECK(waited.exit_code == 3);
  CHECK(state["state"] == "exited");
  CHECK(state["link"].value("drops", 0) >= drops_seen);
  // Byte-exact: the local files are the far ones, and the far ones are the program's own
  // consecutive lines (no gap, no repeat).
  std::string out = spool.output(id, "stdout");
  std::string err = spool.output(id, "stderr");
  CHECK(out == read_whole_file(far_dir + "/stdout"));
  CHECK(err == read_whole_file(far_dir + "/stderr"));
  std::string expected_out;
  std::string expected_err;
  int lines = static_cast<int>(std::count(out.begin(), out.end(), '\n')) - 1;
  for (int i = 1; i <= lines; ++i) {
    expected_out += "out " + std::to_string(i) + "\n";
    expected_err += "err " + std::to_string(i) + "\n";
  }
  expected_out += "end\n";
  CHECK(lines > 100);
  CHECK(out == expected_out);
  CHECK(err == expected_err);
  CHECK(state["output"]["stdout"] == out.size());
  CHECK(far_pids(user, {far_id}).empty());
}
