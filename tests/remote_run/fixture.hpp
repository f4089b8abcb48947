// tests/remote_run/fixture.hpp: `chaperone run --host ...` end to end against the throwaway
// sshd of scripts/test-sshd (started once per test binary, stopped at exit), with control
// masters so most runs skip the ssh handshake, and a look at the far side's processes
// (the far side is this machine) to prove a run left nothing behind.
#pragma once

#include "tests/support/child.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/pattern.hpp"
#include "tests/support/process_info.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace chaperone::test {

using Args = std::vector<std::string>;

// A plain command's outcome (for ssh-keygen, test-sshd, ssh masters, unshare ...).
struct CmdResult {
  int exit_code = -1; // 128+N when killed by signal N
  std::string out;
  std::string err;
};
// Runs argv (PATH lookup) to completion with an empty stdin (tests/support/child.hpp's run);
// fails the test past `timeout`.
CmdResult run_cmd(const Args& argv, std::chrono::milliseconds timeout = 30s);

// How a run reaches its program.
enum class Via { ssh, ssh_then_sudo, sudo_then_ssh, sudo };
std::string to_string(Via via);
const std::vector<Via>& ssh_vias(); // ssh, ssh-then-sudo, sudo-then-ssh

struct Route {
  Route(Via v, std::string user, bool master = true, Args options = {})
      : via(v), login(std::move(user)), control_master(master), ssh_options(std::move(options)) {}
  Via via = Via::ssh;
  std::string login = "chapsh"; // ssh login; sudo-then-ssh: the local sudo user too
  bool control_master = true;   // use the fixture's master for (local user, login)
  Args ssh_options;             // extra -o K=V, before ours (they win)
};

// The user the program runs as on the far side for `route`.
std::string far_user(const Route& route);

// The throwaway sshd, started by the first call of sshd() and stopped at exit.
class Sshd {
public:
  Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;
  Sshd(Sshd&&) = delete;
  Sshd& operator=(Sshd&&) = delete;
  ~Sshd(); // no Catch macros: runs at exit

  int port() const { return m_port; }
  const std::string& dir() const { return m_dir; }
  const std::string& key() const { return m_key; }
  const std::string& shared_key() const { return m_shared_key; }
  const std::string& sudo_target() const { return m_sudo_target; }
  const std::vector<std::string>& users() const { return m_users; }
  pid_t listener_pid() const { return m_listener; }
  // Programs every test user can run: argv_dump and chaperone_test_writer copies.
  std::string argv_dump() const { return m_dir + "/bin/argv_dump"; }
  std::string writer() const { return m_dir + "/bin/test_writer"; }
  // A fresh directory every far-side user can write (1777).
  std::string shared_dir();

  // The `chaperone run` options for `route`.
  Args options(const Route& route);

private:
  void
  ensure_master(const std::string& local_user, const std::string& login, const std::string& key);

  std::string m_dir;
  int m_port = 0;
  pid_t m_listener = -1;
  std::string m_key;
  std::string m_shared_key;
  std::string m_cm_dir;
  std::string m_sudo_target;
  std::vector<std::string> m_users;
  std::vector<std::string> m_masters;
  int m_shared_count = 0;
};

Sshd& sshd();

// `run [-d] OPTIONS -- PROGRAM...` argv for run_chaperone.
Args run_args(const Args& options, const Args& program, bool detach = false);
// `run -d ...`: REQUIREs exit 0, returns the run id.
std::string start_detached(const TempSpool& spool, const Args& options, const Args& program);
// Waits until state.json's state is final; returns it.
nlohmann::json wait_final_state(const TempSpool& spool,
                                const std::string& id,
                                std::chrono::milliseconds within = 30s);
// Waits until state.json records the far side's pid; returns the state.
nlohmann::json wait_remote_recorded(const TempSpool& spool,
                                    const std::string& id,
                                    std::chrono::milliseconds within = 20s);

// A random token (hex) to tag a run's far-side processes: passed as --env CHAP_RR_TOKEN=T,
// it is in the environ of the program and of everything it starts. Whatever still carries a
// token handed out here is SIGKILLed at exit.
std::string random_token();
inline std::string token_env(const std::string& token) {
  return "CHAP_RR_TOKEN=" + token;
}

// Live (not zombie) processes on this machine that belong to a run: environ holds
// CHAP_RR_TOKEN=token (or the cmdline holds it: the wrapper under sudo), or (if `nonce` is given)
// the cmdline holds the run's status nonce (the far-side wrapper), or the process group is `pgid`.
// One "pid user state cmdline" line each.
std::vector<std::string> far_processes(const std::string& token,
                                       const std::string& nonce = {},
                                       std::optional<pid_t> pgid = std::nullopt);

// Hex/escape rendering of bytes for messages (tests/support/child.hpp's show).
inline std::string show_bytes(const std::string& bytes) {
  return show(bytes);
}

// /proc/PID/stat fields.
std::optional<pid_t> parent_of(pid_t pid);
std::optional<uid_t> owner_of(pid_t pid);
uid_t uid_of(const std::string& user);

} // namespace chaperone::test
