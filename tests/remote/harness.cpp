// tests/remote/harness.cpp: child processes, the test sshd, random argvs, argv_dump parsing.
#include "tests/remote/harness.hpp"

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
  for (const char* tool : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sudo", "/usr/bin/perl"}) {
    if (::access(tool, X_OK) != 0) {
      FAIL(tool << " is missing: run scripts/setup to install the test dependencies");
    }
  }
  if (::geteuid() != 0) {
    FAIL("the ssh and sudo tests must run as root (they create test users and a sudoers "
         "rule): see scripts/setup");
  }
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
  std::istringstream env(started.out);
  std::string line;
  while (std::getline(env, line)) {
    std::size_t eq = line.find('=');
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (!value.empty() && value.front() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "TEST_SSHD_PORT") {
      m_port = std::stoi(value);
    } else if (key == "TEST_SSHD_KEY") {
      m_key = value;
    } else if (key == "TEST_SSHD_SHARED_KEY") {
      m_shared_key = value;
    } else if (key == "TEST_SSHD_CM_DIR") {
      m_cm_dir = value;
    } else if (key == "TEST_SSHD_SUDO_TARGET") {
      m_sudo_target = value;
    } else if (key == "TEST_SSHD_USERS") {
      std::istringstream words(value);
      for (std::string w; words >> w;) {
        m_users.push_back(w);
      }
    }
  }
  REQUIRE(m_port > 0);
  REQUIRE(m_users.size() >= 4); // sh, bash, zsh, fish; tcsh when installed
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

std::uint64_t test_seed() {
  if (const char* env = std::getenv("CHAPERONE_TEST_SEED")) {
    return std::stoull(env);
  }
  return std::random_device{}();
}

ArgvGenerator::ArgvGenerator(std::uint64_t seed) : m_rng(seed) {}

namespace {

using std::string_literals::operator""s;

// NOLINTBEGIN(modernize-raw-string-literal): escapes read better in a table of bytes
const std::vector<std::string> k_hostile{
    ""s,         "-"s,        "--"s,
    "-n"s,       "-e"s,       "=ls"s,
    "="s,        "a=b"s,      "~"s,
    "~root"s,    "~/x"s,      "*"s,
    "?"s,        "[a]"s,      "{a,b}"s,
    "$HOME"s,    "${HOME}"s,  "$(id)"s,
    "`id`"s,     "'"s,        "\""s,
    "\\"s,       "\\'"s,      "\\\\"s,
    "'\\''"s,    "!"s,        "!!"s,
    "%s"s,       "\n"s,       "\t"s,
    "\r\n"s,     " "s,        "a b"s,
    "\xff\xfe"s, "\xc0\x80"s, "é漢字"s,
    "#"s,        "a#b"s,      ";"s,
    "&"s,        "|"s,        "<"s,
    ">"s,        "^"s,        "(x)"s,
    "\x1b[31m"s, "\x7f"s,     "$'\\n'"s,
    "\\n"s,      "%"s,        "-oProxyCommand=x"s,
    "--help"s,   "\x01"s,     "end\\"s,
    "$"s,
};

// NOLINTEND(modernize-raw-string-literal)

constexpr std::string_view k_meta = " \t\n'\"\\$`*?[]{}()<>|&;!#~=%^-+,:@/.";

} // namespace

std::string ArgvGenerator::value(std::size_t max_length) {
  std::uniform_int_distribution<std::size_t> length_dist(0, max_length);
  std::size_t length = length_dist(m_rng);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int> any_byte(1, 255);
  std::uniform_int_distribution<std::size_t> meta(0, k_meta.size() - 1);
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    int k = kind(m_rng);
    if (k < 5) {
      out.push_back(k_meta[meta(m_rng)]);
    } else if (k < 7) {
      out.push_back(static_cast<char>('a' + any_byte(m_rng) % 26));
    } else {
      out.push_back(static_cast<char>(any_byte(m_rng)));
    }
  }
  return out;
}

std::string ArgvGenerator::next() {
  if (m_fixed_index < k_hostile.size()) {
    return k_hostile[m_fixed_index++];
  }
  std::uniform_int_distribution<int> shape(0, 19);
  int s = shape(m_rng);
  if (s == 0) {
    return k_hostile[std::uniform_int_distribution<std::size_t>(0, k_hostile.size() - 1)(m_rng)];
  }
  if (s == 1) {
    return "-" + value(8);
  }
  if (s == 2) {
    return value(200);
  }
  return value(16);
}

Argv ArgvGenerator::batch(std::size_t bytes, std::size_t count) {
  Argv out;
  std::size_t total = 0;
  while (total < bytes && out.size() < count) {
    out.push_back(next());
    total += out.back().size() + 1;
  }
  return out;
}

std::optional<Dump> parse_dump(const std::string& bytes) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t nul = bytes.find('\0', start);
    if (nul == std::string::npos) {
      return std::nullopt; // every field ends with a NUL
    }
    fields.push_back(bytes.substr(start, nul - start));
    start = nul + 1;
  }
  Dump dump;
  std::size_t i = 0;
  auto take = [&]() -> std::optional<std::string> {
    if (i >= fields.size()) {
      return std::nullopt;
    }
    return fields[i++];
  };
  if (take() != "cwd") {
    return std::nullopt;
  }
  auto cwd = take();
  if (!cwd) {
    return std::nullopt;
  }
  dump.cwd = *cwd;
  while (i < fields.size() && fields[i] == "env") {
    ++i;
    auto name = take();
    auto value = take();
    if (!name || !value || value->empty()) {
      return std::nullopt;
    }
    dump.env.emplace_back(*name,
                          value->front() == '=' ? std::optional(value->substr(1)) : std::nullopt);
  }
  if (take() != "argc") {
    return std::nullopt;
  }
  auto argc = take();
  if (!argc) {
    return std::nullopt;
  }
  std::size_t n = std::stoul(*argc);
  if (fields.size() - i != n) {
    return std::nullopt;
  }
  dump.args.assign(fields.begin() + static_cast<std::ptrdiff_t>(i), fields.end());
  return dump;
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

std::string random_nonce() {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char k_chars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof k_chars - 2);
  std::string nonce;
  for (int i = 0; i < 16; ++i) {
    nonce.push_back(k_chars[pick(rng)]);
  }
  return nonce;
}

void check_same_args(const Argv& expected, const Argv& got) {
  if (expected == got) {
    return;
  }
  std::size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) {
    ++i;
  }
  FAIL_CHECK("argv differs at element "
             << i << " of " << expected.size() << " (got " << got.size() << "): expected "
             << (i < expected.size() ? show(expected[i]) : "<end>") << ", got "
             << (i < got.size() ? show(got[i]) : "<end>"));
}

std::string show(const std::string& bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

} // namespace chaperone::test
