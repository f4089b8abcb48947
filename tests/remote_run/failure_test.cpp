// tests/remote_run/failure_test.cpp: runs that ssh could not carry out end `failed` with the
// cause in state.error (exit 255), told apart from the program's own exit codes; a far-side
// cd failure is `failed` 125; and the command line keeps the program's own arguments.
#include "tests/remote_run/fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

using namespace chaperone::test;

namespace {

// A port on 127.0.0.1 nothing listens on: bound (so no one else takes it meanwhile) but
// never listen()ed, so a connect is refused. Close it after the test.
class ClosedPort {
public:
  ClosedPort() {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    m_port = ntohs(addr.sin_port);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  ClosedPort(ClosedPort&&) = delete;
  ClosedPort& operator=(ClosedPort&&) = delete;
  ~ClosedPort() { ::close(m_fd); }
  int port() const { return m_port; }

private:
  int m_fd = -1;
  int m_port = 0;
};

// The run failed because of ssh: exit 255 from the front end, state failed, an error naming
// `cause`, and the program never ran.
void check_ssh_failure(const TempSpool& spool, const RunResult& r, const std::string& cause) {
  INFO("front end stderr: " << r.err);
  CHECK(r.exit_code == 255);
  std::string id = spool.only_run_id();
  nlohmann::json state = spool.state(id);
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "failed");
  CHECK(state["exit_code"] == 255);
  CHECK(state["return_code"].is_null());
  std::string error = state.value("error", "");
  CHECK(error.find(cause) != std::string::npos);
  CHECK(error.rfind("ssh failed (exit 255)", 0) == 0);
  CHECK(r.err.find(cause) != std::string::npos); // the front end says why, too
  CHECK(spool.output(id, "stdout").empty());
  CHECK_FALSE(state.contains("remote"));
}

Args direct_options(int port, const std::string& key, const Args& ssh_options = {}) {
  Args o;
  for (const std::string& opt : ssh_options) {
    o.insert(o.end(), {"-o", opt});
  }
  o.insert(o.end(),
           {"-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "--host",
            "127.0.0.1",
            "--port",
            std::to_string(port),
            "--login",
            "chapsh",
            "-i",
            key});
  return o;
}

} // namespace

TEST_CASE("a refused connection ends the run failed 255 with an error naming Connection refused",
          "[ssh]") {
  TempSpool spool;
  ClosedPort closed;
  std::string key = (spool.scratch() / "key").string();
  write_whole_file(key, "", 0600); // never read: the connection fails first
  RunResult r =
      run_chaperone(spool, run_args(direct_options(closed.port(), key), {"echo", "never"}));
  check_ssh_failure(spool, r, "Connection refused");
}

TEST_CASE("a key the server does not know ends the run failed 255 with Permission denied",
          "[ssh]") {
  TempSpool spool;
  std::string key = (spool.scratch() / "stranger").string();
  CmdResult gen = run_cmd({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key});
  REQUIRE(gen.exit_code == 0);
  RunResult r =
      run_chaperone(spool, run_args(direct_options(sshd().port(), key), {"echo", "never"}));
  check_ssh_failure(spool, r, "Permission denied");
}

TEST_CASE("a host key that does not match known_hosts ends the run failed 255 naming the host key",
          "[ssh]") {
  TempSpool spool;
  std::string other = (spool.scratch() / "other_host_key").string();
  REQUIRE(run_cmd({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other}).exit_code == 0);
  std::string pub = read_whole_file(other + ".pub");
  std::string known_hosts = (spool.scratch() / "known_hosts").string();
  write_whole_file(known_hosts, "[127.0.0.1]:" + std::to_string(sshd().port()) + " " + pub, 0644);
  RunResult r = run_chaperone(
      spool,
      run_args(direct_options(sshd().port(),
                              sshd().key(),
                              {"StrictHostKeyChecking=yes", "UserKnownHostsFile=" + known_hosts}),
               {"echo", "never"}));
  check_ssh_failure(spool, r, "Host key verification failed");
}

TEST_CASE("an unknown host (no resolver reachable) ends the run failed 255 naming the host",
          "[ssh]") {
  TempSpool spool;
  RunOptions options;
  // A private network namespace with only a down lo: no lookup ever leaves the machine.
  options.wrapper = {"unshare", "--net", "--"};
  RunResult r = run_chaperone(spool,
                              run_args({"-o",
                                        "BatchMode=yes",
                                        "--host",
                                        "no-such-host.chaperone-test.invalid",
                                        "--login",
                                        "chapsh"},
                                       {"echo", "never"}),
                              options);
  check_ssh_failure(spool, r, "Could not resolve hostname no-such-host.chaperone-test.invalid");
}

TEST_CASE("a far-side cd that fails ends the run failed 125 naming the directory and never runs "
          "the program",
          "[ssh][sudo]") {
  std::string shared = sshd().shared_dir();
  std::string file = shared + "/a file";
  write_whole_file(file, "", 0644);
  std::string locked = shared + "/locked dir";
  REQUIRE(::mkdir(locked.c_str(), 0700) == 0); // root's: the far users may not enter
  struct Case {
    std::string dir;
    std::string reason;
  };
  const std::vector<Case> cases{{shared + "/missing $dir", "No such file or directory"},
                                {file, "Not a directory"},
                                {locked, "Permission denied"}};
  for (Via via : ssh_vias()) {
    for (const Case& c : cases) {
      INFO(to_string(via) << ": --cwd " << c.dir);
      TempSpool spool;
      std::string token = random_token();
      Args options{"--env", token_env(token), "--cwd", c.dir};
      Args rest = sshd().options({via, "chapbash"});
      options.insert(options.end(), rest.begin(), rest.end());
      RunResult r = run_chaperone(spool, run_args(options, {"sh", "-c", "echo ran; exit 0"}));
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 125);
      CHECK(r.out.empty());
      std::string id = spool.only_run_id();
      nlohmann::json state = spool.state(id);
      INFO("state.json: " << state.dump());
      CHECK(state["state"] == "failed");
      CHECK(state["exit_code"] == 125);
      CHECK(state.value("error", "") == "cd " + c.dir + ": " + c.reason);
      CHECK(spool.output(id, "stdout").empty());
      CHECK(spool.output(id, "stderr").find("chaperone-marker") == std::string::npos);
    }
  }
}

// Pins that a program missing on the far side ends `failed` 127 with the reason in error, as
// a local one does (the wrapper's "exec REASON" marker once lost to its "exit 127", leaving
// exit 127 and no message at all).
TEST_CASE("a program missing on the far side ends the run failed 127 saying so", "[ssh]") {
  TempSpool spool;
  RunResult r = run_chaperone(
      spool, run_args(sshd().options({Via::ssh, "chapsh"}), {"no-such-program-chaperone"}));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 127);
  nlohmann::json state = spool.state(spool.only_run_id());
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "failed");
  CHECK(state["error"].is_string());
  CHECK(state.value("error", std::string()).find("program not found") != std::string::npos);
}

// Found by this suite and fixed in e803bde: -o and --env once took every following word up to
// `--`, and the program's own dash arguments were then parsed as chaperone options.
TEST_CASE("a repeatable option right before -- leaves the program's dash arguments alone",
          "[ssh]") {
  TempSpool spool;
  Args options = sshd().options({Via::ssh, "chapsh"});
  for (const char* last : {"-o", "--env"}) {
    INFO(last);
    Args o = options;
    o.insert(o.end(), {last, std::string(last) == "-o" ? "ServerAliveInterval=5" : "A=B"});
    RunResult r = run_chaperone(spool, run_args(o, {"sh", "-c", "exit 3"}));
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 3);
  }
}

TEST_CASE("a far-side sudo that refuses the user ends the run failed with sudo's message",
          "[ssh][sudo]") {
  TempSpool spool;
  Args options = sshd().options({Via::ssh_then_sudo, "chapsh"});
  // The test rule lets chapsh become chaprun or root only: sudo -n to daemon needs a password.
  auto sudo_user = std::find(options.begin(), options.end(), "--sudo-user");
  REQUIRE(sudo_user != options.end());
  *std::next(sudo_user) = "daemon";
  RunResult r = run_chaperone(spool, run_args(options, {"echo", "never"}));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 255);
  nlohmann::json state = spool.state(spool.only_run_id());
  INFO("state.json: " << state.dump());
  CHECK(state["state"] == "failed");
  CHECK(state["return_code"].is_null());
  CHECK(state.value("error", "").find("sudo: a password is required") != std::string::npos);
  CHECK(r.out.empty());
}
