// tests/remote/harness.cpp: child processes, the test sshd, random argvs, argv_dump parsing.
#include "tests/remote/harness.hpp"

#include "tests/support/test_sshd_env.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
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

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

std::vector<char*> c_argv(const Argv& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

int Outcome::exit_code() const {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
int Outcome::term_signal() const {
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

Child::Child(const Argv& argv, std::string input, cmdbuild::MarkerFilter* filter)
    : m_input(std::move(input)), m_filter(filter) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    fail_errno("pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  std::vector<char*> args = c_argv(argv);
  int rc = ::posix_spawnp(&m_pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  m_in = in[1];
  m_out = out[0];
  m_err = err[0];
  if (rc != 0) {
    errno = rc;
    fail_errno("posix_spawnp " + argv[0]);
  }
  ::fcntl(m_in, F_SETFL, O_NONBLOCK);
  if (m_input.empty()) {
    close_fd(m_in);
  }
}

Child::~Child() {
  close_fd(m_in);
  close_fd(m_out);
  close_fd(m_err);
  if (m_pid > 0) {
    ::kill(-m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
  }
}

bool Child::pump(Clock::time_point deadline) {
  if (m_out < 0 && m_err < 0) {
    return false;
  }
  pollfd fds[3];
  nfds_t n = 0;
  int* owners[3];
  auto add = [&](int& fd, short events) {
    if (fd >= 0) {
      fds[n] = pollfd{fd, events, 0};
      owners[n++] = &fd;
    }
  };
  add(m_out, POLLIN);
  add(m_err, POLLIN);
  add(m_in, POLLOUT);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    FAIL("child " << m_pid
                  << " still running at the deadline; stderr so far: " << show(m_outcome.err));
  }
  int ready = ::poll(fds, n, static_cast<int>(left.count()));
  if (ready < 0 && errno != EINTR) {
    fail_errno("poll");
  }
  char buf[65536];
  for (nfds_t i = 0; i < n && ready > 0; ++i) {
    if (fds[i].revents == 0) {
      continue;
    }
    int& fd = *owners[i];
    if (&fd == &m_in) {
      ssize_t w = ::write(fd, m_input.data() + m_written, m_input.size() - m_written);
      if (w > 0) {
        m_written += static_cast<std::size_t>(w);
      }
      // EPIPE: the child does not read its input.
      bool broken = w < 0 && errno != EAGAIN && errno != EINTR;
      if (broken || m_written == m_input.size()) {
        close_fd(m_in);
      }
      continue;
    }
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      close_fd(fd);
      if (&fd == &m_err && m_filter != nullptr) {
        m_filtered += m_filter->finish();
      }
      continue;
    }
    std::string_view chunk(buf, static_cast<std::size_t>(r));
    if (&fd == &m_out) {
      m_outcome.out.append(chunk);
    } else {
      m_outcome.err.append(chunk);
      if (m_filter != nullptr) {
        m_filtered += m_filter->feed(chunk);
      }
    }
  }
  return m_out >= 0 || m_err >= 0;
}

Outcome Child::finish(Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (pump(deadline)) {
  }
  close_fd(m_in);
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fail_errno("waitpid");
    }
  }
  m_pid = -1;
  m_outcome.status = status;
  return m_outcome;
}

Outcome run(const Argv& argv, const std::string& input, Clock::duration timeout) {
  Child child(argv, input);
  return child.finish(timeout);
}

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
  Run result{{}, {}, cmdbuild::MarkerFilter(nonce), std::nullopt, nonce};
  Child child(command.argv, input, &result.filter);
  result.outcome = child.finish(std::chrono::seconds(120));
  result.err = child.filtered_err();
  result.dump = parse_dump(result.outcome.out);
  return result;
}

} // namespace chaperone::test
