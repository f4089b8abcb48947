// tests/remote_run/dropped_link_test.cpp: the link to the far side goes away while the program
// runs. The run ends `failed`, "connection lost", within the keepalive window, and the output
// that arrived before is kept.
//
// What happens to the remote program: ssh without a tty gives it no SIGHUP, so on its own it
// would run on, reparented away from the dead session, until its next write raised SIGPIPE (a
// silent program forever). The supervisor therefore ends the far group it recorded over a new
// connection (TERM, grace, KILL; README "Remote runs") before it writes the final state, and
// records whether it could (`far_group`). Checked here: by the time the run is final the far
// program is gone although it never wrote again, and the command after its gate never ran.
#include "tests/remote_run/fixture.hpp"

#include <cerrno>
#include <csignal>
#include <filesystem>

using namespace chaperone::test;

namespace {

// "" if the process is gone (read_proc_file: one exiting mid-read is gone, not an exception).
std::string comm_of(pid_t pid) {
  std::string comm = read_proc_file(pid, "comm");
  return comm.substr(0, comm.find('\n'));
}

// The per-connection sshd processes ("sshd: U [priv]", "sshd: U@notty") above `far_pid`:
// its ancestors up to, not including, the listening sshd.
std::vector<pid_t> connection_sshds(pid_t far_pid) {
  std::vector<pid_t> found;
  pid_t pid = far_pid;
  for (int depth = 0; depth < 16; ++depth) {
    auto parent = parent_of(pid);
    if (!parent || *parent <= 1) {
      break;
    }
    if (*parent == sshd().listener_pid()) {
      return found;
    }
    if (comm_of(*parent) == "sshd") {
      found.push_back(*parent);
    }
    pid = *parent;
  }
  FAIL("pid " << far_pid << " does not descend from the test sshd " << sshd().listener_pid());
  return {};
}

// SIGKILLs the connection's sshd processes at the end whatever happened (a stopped sshd
// would otherwise hold the far program's pipes forever).
struct KillAtEnd {
  std::vector<pid_t> pids;
  KillAtEnd() = default;
  KillAtEnd(const KillAtEnd&) = delete;
  KillAtEnd& operator=(const KillAtEnd&) = delete;
  KillAtEnd(KillAtEnd&&) = delete;
  KillAtEnd& operator=(KillAtEnd&&) = delete;
  ~KillAtEnd() {
    for (pid_t pid : pids) {
      ::kill(pid, SIGKILL);
    }
  }
};

enum class Cut { stop_sshd, kill_sshd };

void drop_link_mid_run(Cut cut, bool check_cause = false) {
  TempSpool spool;
  std::string shared = sshd().shared_dir();
  std::string token = random_token();
  std::string gate = shared + "/gate";
  std::string done = shared + "/done";
  // No control master: the cut must hit this run's own connection only.
  Route route{Via::ssh, "chapbash", false, {"ServerAliveInterval=1", "ServerAliveCountMax=2"}};
  Args options{"--env", token_env(token)};
  Args rest = sshd().options(route);
  options.insert(options.end(), rest.begin(), rest.end());
  std::string id = start_detached(
      spool,
      options,
      {"sh",
       "-c",
       std::string("echo before; echo err-before >&2; while [ ! -e \"$1\" ]; do sleep 0.05; done; ")
           + "echo after; echo after >&2; echo wrote > \"$2\"",
       "sh",
       gate,
       done});
  nlohmann::json running = wait_remote_recorded(spool, id);
  pid_t far_pid = running["remote"]["pid"].get<pid_t>();
  auto far_ticks = process_start_ticks(far_pid);
  REQUIRE(wait_until(deadline_in(20s), "the output before the drop", [&] {
    // The stderr relay holds a final "\n" back until more bytes show it does not begin a
    // status marker, so while the program runs the line shows without its newline.
    return spool.output(id, "stdout") == "before\n"
           && spool.output(id, "stderr").rfind("err-before", 0) == 0;
  }));

  KillAtEnd guard;
  guard.pids = connection_sshds(far_pid);
  REQUIRE(guard.pids.size() >= 1);
  Clock::time_point cut_at = Clock::now();
  int hit = 0;
  for (pid_t pid : guard.pids) {
    // SIGSTOP: the TCP connection stays up but nothing answers, so only ssh's keepalive can
    // tell. SIGKILL: the kernel closes the socket and ssh sees EOF at once. One of the listed
    // sshd processes may already have gone (ESRCH) by the time it is signalled; the cut needs
    // at least one hit on this connection's processes.
    if (::kill(pid, cut == Cut::stop_sshd ? SIGSTOP : SIGKILL) == 0) {
      ++hit;
    } else {
      CHECK(errno == ESRCH);
    }
  }
  REQUIRE(hit >= 1);
  nlohmann::json state = wait_final_state(spool, id, 20s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - cut_at);
  INFO("state.json: " << state.dump() << "; ended " << took.count() << " ms after the cut");
  CHECK(took < 10s); // ServerAliveInterval=1, ServerAliveCountMax=2: ~3 s
  CHECK(state["state"] == "failed");
  CHECK(state["exit_code"] == 255);
  CHECK(state.value("error", "").rfind("connection lost", 0) == 0);
  if (check_cause) {
    std::string error = state.value("error", "");
    CHECK(error.find("err-before") == std::string::npos); // the program's line, not the cause
    CHECK(error.find('\r') == std::string::npos);
  }
  CHECK(state["remote"]["pid"] == far_pid);
  // The output from before the drop is kept, and nothing of the status channel.
  CHECK(spool.output(id, "stdout") == "before\n");
  std::string err = spool.output(id, "stderr");
  CHECK(err.rfind("err-before\n", 0) == 0);
  CHECK(err.find("chaperone-marker") == std::string::npos);
  RunResult w = run_chaperone(spool, {"wait", id});
  CHECK(w.exit_code == 255);

  // The far program did not outlive the link, and was not left to die at its next write.
  CHECK(state["far_group"]["ended"] == true);
  CHECK(state["far_group_ended"] == true);
  CHECK_FALSE(process_running(far_pid, far_ticks));
  // The far wrapper reaps the program and exits as soon as its status write fails or lands.
  std::vector<std::string> left;
  CHECK(wait_until(deadline_in(10s), "nothing of the run left on the far side", [&] {
    left = far_processes(token, state.value("status_nonce", ""));
    return left.empty();
  }));
  for (const std::string& line : left) {
    UNSCOPED_INFO("left: " << line);
  }
  for (pid_t pid : guard.pids) {
    ::kill(pid, SIGKILL);
  }
  write_whole_file(gate, "", 0644);
  CHECK_FALSE(std::filesystem::exists(done));
}

} // namespace

TEST_CASE("a link that stops answering mid-run ends the run failed with connection lost within "
          "the keepalive window and keeps the output from before",
          "[ssh]") {
  drop_link_mid_run(Cut::stop_sshd);
}

TEST_CASE("a connection closed by the far side mid-run ends the run failed with connection lost "
          "and keeps the output from before",
          "[ssh]") {
  drop_link_mid_run(Cut::kill_sshd);
}

// Pins that "connection lost: ..." names ssh's own complaint (or none), never a line of the
// program's stderr, which shares the channel (it once quoted the program's last stderr line,
// or sshd's "closed by remote host." with ssh's trailing carriage return).
TEST_CASE("the connection lost error quotes no line of the program's own stderr", "[ssh]") {
  drop_link_mid_run(Cut::stop_sshd, true);
  drop_link_mid_run(Cut::kill_sshd, true);
}
