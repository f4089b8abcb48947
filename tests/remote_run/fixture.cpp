// tests/remote_run/fixture.cpp: the test sshd, control masters, plain commands, far-side
// process scans.
#include "tests/remote_run/fixture.hpp"

#include "tests/support/test_sshd_env.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace chaperone::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void copy_executable(const std::string& from, const std::string& to) {
  std::string data = slurp(from);
  REQUIRE(!data.empty());
  write_whole_file(to, data, 0755);
  REQUIRE(::chmod(to.c_str(), 0755) == 0);
}

// Every token handed out, so that whatever a run left behind is ended at exit (a failed
// test may stop before its own checks). Never destroyed: Sshd's destructor uses it.
std::vector<std::string>& tokens_handed_out() {
  static auto* tokens = new std::vector<std::string>;
  return *tokens;
}

pid_t pid_of_line(const std::string& line) {
  return static_cast<pid_t>(std::stol(line.substr(0, line.find(' '))));
}

} // namespace

CmdResult run_cmd(const Args& argv, std::chrono::milliseconds timeout) {
  Outcome outcome = run(argv, {}, timeout);
  CmdResult result;
  result.exit_code = outcome.term_signal() != 0 ? 128 + outcome.term_signal() : outcome.exit_code();
  result.out = std::move(outcome.out);
  result.err = std::move(outcome.err);
  return result;
}
std::string to_string(Via via) {
  switch (via) {
  case Via::ssh:
    return "ssh";
  case Via::ssh_then_sudo:
    return "ssh-then-sudo";
  case Via::sudo_then_ssh:
    return "sudo-then-ssh";
  case Via::sudo:
    return "sudo";
  }
  return "?";
}

const std::vector<Via>& ssh_vias() {
  static const std::vector<Via> vias{Via::ssh, Via::ssh_then_sudo, Via::sudo_then_ssh};
  return vias;
}

std::string far_user(const Route& route) {
  switch (route.via) {
  case Via::ssh:
  case Via::sudo_then_ssh:
    return route.login;
  case Via::ssh_then_sudo:
  case Via::sudo:
    return sshd().sudo_target();
  }
  return {};
}

Sshd::Sshd() {
  require_test_sshd_tools();
  char tmpl[] = "/tmp/chap-rr.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  m_dir = tmpl;
  CmdResult started = run_cmd({CHAPERONE_TEST_SSHD, "start", m_dir}, 60s);
  if (started.exit_code != 0) {
    std::filesystem::remove_all(m_dir);
    FAIL(CHAPERONE_TEST_SSHD " start failed (run scripts/setup?): " << started.err);
  }
  TestSshdEnv env = read_test_sshd_env(m_dir);
  m_port = env.port;
  m_key = env.key;
  m_shared_key = env.shared_key;
  m_cm_dir = env.cm_dir;
  m_sudo_target = env.sudo_target;
  m_users = env.users;
  m_listener = std::stoi(slurp(m_dir + "/sshd.pid.own"));
  std::filesystem::create_directory(m_dir + "/bin");
  ::chmod((m_dir + "/bin").c_str(), 0755);
  copy_executable(CHAPERONE_ARGV_DUMP, argv_dump());
  copy_executable(CHAPERONE_TEST_WRITER, writer());
}

Sshd::~Sshd() {
  if (m_dir.empty()) {
    return;
  }
  // No Catch here (exit time): a failure to stop only leaves a temp dir behind.
  for (const std::string& token : tokens_handed_out()) {
    for (const std::string& line : far_processes(token)) {
      (void)std::fprintf(stderr, "remote_run: ending leftover %s\n", line.substr(0, 80).c_str());
      ::kill(pid_of_line(line), SIGKILL);
    }
  }
  Args stop{CHAPERONE_TEST_SSHD, "stop", m_dir};
  std::string cmd;
  for (const std::string& a : stop) {
    cmd += "'" + a + "' ";
  }
  if (std::system((cmd + ">/dev/null 2>&1").c_str()) != 0) {
    (void)std::fprintf(stderr, "remote_run: %s failed\n", cmd.c_str());
  }
}

Sshd& sshd() {
  static Sshd instance;
  return instance;
}

std::string Sshd::shared_dir() {
  std::string dir = m_dir + "/shared" + std::to_string(++m_shared_count);
  std::filesystem::create_directory(dir);
  REQUIRE(::chmod(dir.c_str(), 01777) == 0);
  return dir;
}

void Sshd::ensure_master(const std::string& local_user,
                         const std::string& login,
                         const std::string& key) {
  std::string id = local_user + ":" + login;
  if (std::find(m_masters.begin(), m_masters.end(), id) != m_masters.end()) {
    return;
  }
  Args master;
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
                 "ControlPath=" + m_cm_dir + "/%u-%C",
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
                 key,
                 "-N",
                 "-f",
                 "127.0.0.1"});
  CmdResult r = run_cmd(master);
  if (r.exit_code != 0) {
    FAIL("control master " << id << " failed: " << r.err);
  }
  m_masters.push_back(id);
}

Args Sshd::options(const Route& route) {
  Args o;
  for (const std::string& opt : route.ssh_options) {
    o.insert(o.end(), {"-o", opt});
  }
  if (route.via == Via::sudo) {
    o.insert(o.end(), {"--mode", "sudo", "--sudo-user", m_sudo_target});
    return o;
  }
  o.insert(o.end(), {"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"});
  o.insert(
      o.end(),
      {"--mode", to_string(route.via), "--host", "127.0.0.1", "--port", std::to_string(m_port)});
  std::string key = m_key;
  std::string local_user = "root";
  if (route.via == Via::sudo_then_ssh) {
    key = m_shared_key;
    local_user = route.login;
    o.insert(o.end(), {"--sudo-user", route.login});
  } else {
    o.insert(o.end(), {"--login", route.login});
    if (route.via == Via::ssh_then_sudo) {
      o.insert(o.end(), {"--sudo-user", m_sudo_target});
    }
  }
  if (route.control_master) {
    ensure_master(local_user, route.login, key);
    o.insert(o.end(), {"--control-path", m_cm_dir + "/%u-%C"});
  }
  o.insert(o.end(), {"-i", key});
  return o;
}

Args run_args(const Args& options, const Args& program, bool detach) {
  Args a{"run"};
  if (detach) {
    a.emplace_back("-d");
  }
  a.insert(a.end(), options.begin(), options.end());
  a.emplace_back("--");
  a.insert(a.end(), program.begin(), program.end());
  return a;
}

std::string start_detached(const TempSpool& spool, const Args& options, const Args& program) {
  RunResult r = run_chaperone(spool, run_args(options, program, true));
  INFO("run -d stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.size() > 1);
  REQUIRE(r.out.back() == '\n');
  return r.out.substr(0, r.out.size() - 1);
}

nlohmann::json
wait_final_state(const TempSpool& spool, const std::string& id, std::chrono::milliseconds within) {
  nlohmann::json state;
  wait_until(deadline_in(within), "run " + id + " to end", [&] {
    state = spool.state(id);
    std::string s = state.value("state", "");
    return s != "starting" && s != "running";
  });
  return state;
}

nlohmann::json wait_remote_recorded(const TempSpool& spool,
                                    const std::string& id,
                                    std::chrono::milliseconds within) {
  nlohmann::json state;
  wait_until(deadline_in(within), "run " + id + " to record the far side's pid", [&] {
    state = spool.state(id);
    return state.contains("remote") && state["remote"].contains("pid");
  });
  return state;
}

std::string random_token() {
  static std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  (void)std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  tokens_handed_out().emplace_back(buf);
  return buf;
}

namespace {

// A cmdline with every word that is whole hex bytes also decoded (NUL-separated, after the
// original): the far wrapper run by the stub's own perl (cmdbuild k_remote_eval_pl) carries
// its arguments, nonce and env entries, inside such a word.
std::string with_hex_words_decoded(const std::string& cmdline) {
  std::string out = cmdline;
  for (std::size_t start = 0, end; start < cmdline.size(); start = end + 1) {
    end = cmdline.find('\0', start);
    if (end == std::string::npos) {
      end = cmdline.size();
    }
    std::string word = cmdline.substr(start, end - start);
    bool hex = !word.empty() && word.size() % 2 == 0
               && word.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) {
      continue;
    }
    out.push_back('\0');
    for (std::size_t i = 0; i < word.size(); i += 2) {
      out.push_back(static_cast<char>(std::stoi(word.substr(i, 2), nullptr, 16)));
    }
    out.push_back('\0');
  }
  return out;
}

} // namespace

std::vector<std::string>
far_processes(const std::string& token, const std::string& nonce, std::optional<pid_t> pgid) {
  std::vector<std::string> found;
  std::string env_entry = token_env(token);
  for (const ProcessSnapshot& p : list_processes()) {
    if (p.pid == ::getpid() || !p.live()) {
      continue;
    }
    std::string cmdline = read_proc_file(p.pid, "cmdline");
    bool hit = has_entry(read_proc_file(p.pid, "environ"), env_entry);
    // The local sudo of sudo-then-ssh or the far one of ssh-then-sudo, and the far wrapper:
    // the token is in the wrapper's arguments, not (yet) in the environment.
    std::string args = with_hex_words_decoded(cmdline);
    if (args.find(env_entry) != std::string::npos) {
      hit = true;
    }
    if (!nonce.empty() && args.find(nonce) != std::string::npos) {
      hit = true;
    }
    if (pgid && p.pgrp == *pgid) {
      hit = true;
    }
    if (hit) {
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      auto uid = owner_of(p.pid);
      std::string line = std::to_string(p.pid);
      line.append(" uid=").append(uid ? std::to_string(*uid) : "?").append(" ");
      line.push_back(p.state);
      line.append(" ").append(cmdline.substr(0, 200));
      found.push_back(line);
    }
  }
  return found;
}

std::optional<pid_t> parent_of(pid_t pid) {
  auto p = read_process(pid);
  if (!p) {
    return std::nullopt;
  }
  return p->ppid;
}

std::optional<uid_t> owner_of(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) {
    return std::nullopt;
  }
  return st.st_uid;
}

uid_t uid_of(const std::string& user) {
  passwd* pw = ::getpwnam(user.c_str());
  REQUIRE(pw != nullptr);
  return pw->pw_uid;
}

} // namespace chaperone::test
