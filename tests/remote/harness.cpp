// tests/remote/harness.cpp: child processes, the test sshd, random argvs, argv_dump parsing.
#include "tests/remote/harness.hpp"

#include "tests/support/test_sshd_env.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace chaperone::test {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  FAIL(what << ": " << std::strerror(errno));
  std::abort(); // FAIL throws; this only tells the compiler
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

void require_tools() {
  require_test_sshd_tools();
}

TestSshd::TestSshd() {
  require_tools();
  char tmpl[] = "/tmp/chap-sshd.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    fail_errno("mkdtemp");
  }
  m_dir = tmpl;
  Outcome started = run({CHAPERONE_TEST_SSHD, "start", m_dir});
  if (started.exit_code() != 0) {
    FAIL(CHAPERONE_TEST_SSHD " start failed (run scripts/setup?): " << started.err);
  }
  TestSshdEnv env = read_test_sshd_env(m_dir);
  m_port = env.port;
  m_key = env.key;
  m_shared_key = env.shared_key;
  m_cm_dir = env.cm_dir;
  m_sudo_target = env.sudo_target;
  m_users = env.users;
  std::string dump = read_file(CHAPERONE_ARGV_DUMP);
  REQUIRE(!dump.empty());
  std::ofstream(argv_dump(), std::ios::binary) << dump;
  REQUIRE(::chmod(argv_dump().c_str(), 0755) == 0);
}

TestSshd::~TestSshd() {
  Argv stop{CHAPERONE_TEST_SSHD, "stop", m_dir};
  Child child(stop);
  child.finish(std::chrono::seconds(30));
}

cmdbuild::Target TestSshd::target(cmdbuild::TargetMode mode, const std::string& login) {
  using cmdbuild::TargetMode;
  cmdbuild::Target t;
  t.mode = mode;
  if (mode == TargetMode::sudo) {
    t.sudo_user = m_sudo_target;
  }
  if (!cmdbuild::is_ssh_mode(mode)) {
    return t;
  }
  t.host = "127.0.0.1";
  t.port = m_port;
  t.ssh_options = {"StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"};
  // %C hashes the remote side only: the local user keeps root's and a test user's masters
  // apart. Expanded, this stays well under the 108 bytes of a socket path.
  t.control_path = m_cm_dir + "/%u-%C";
  t.control_master = "no";
  std::string local_user = "root";
  if (mode == TargetMode::sudo_then_ssh) {
    t.sudo_user = login; // the far-side login defaults to it
    t.identity_file = m_shared_key;
    local_user = login;
  } else {
    t.login = login;
    t.identity_file = m_key;
    if (mode == TargetMode::ssh_then_sudo) {
      t.sudo_user = m_sudo_target;
    }
  }
  std::string key = local_user + ":" + login;
  if (std::find(m_masters.begin(), m_masters.end(), key) == m_masters.end()) {
    Argv master;
    if (local_user != "root") {
      master = {"sudo", "-n", "-u", local_user, "--"};
    }
    master.insert(master.end(),
                  {"ssh",
                   "-o",
                   "StrictHostKeyChecking=no",
                   "-o",
                   "UserKnownHostsFile=/dev/null",
                   "-o",
                   "ControlPath=" + t.control_path,
                   "-o",
                   "ControlMaster=yes",
                   "-o",
                   "ControlPersist=yes",
                   "-o",
                   "BatchMode=yes",
                   "-o",
                   "LogLevel=ERROR",
                   "-p",
                   std::to_string(m_port),
                   "-l",
                   login,
                   "-i",
                   t.identity_file,
                   "-N",
                   "-f",
                   "127.0.0.1"});
    Outcome started = run(master);
    if (started.exit_code() != 0) {
      FAIL("control master for " << key << " failed: " << started.err);
    }
    m_masters.push_back(key);
  }
  return t;
}

Run run_program(const cmdbuild::Program& program,
                const cmdbuild::Target& target,
                const std::string& input) {
  std::string nonce = random_nonce();
  cmdbuild::Command command = cmdbuild::build_command(program, target, nonce);
  Run result{{},
             {},
             cmdbuild::MarkerFilter(nonce, cmdbuild::before_first_marker(target.mode)),
             std::nullopt,
             nonce};
  Child child(command.argv, input, &result.filter);
  result.outcome = child.finish(std::chrono::seconds(120));
  result.err = child.filtered_err();
  result.dump = parse_dump(result.outcome.out);
  return result;
}

} // namespace chaperone::test
