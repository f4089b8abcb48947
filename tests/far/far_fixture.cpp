// tests/far/far_fixture.cpp: far users, far spool, link cuts.
#include "tests/far/far_fixture.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace chaperone::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// useradd and usermod contend for /etc/passwd's lock with parallel tests.
void retry_cmd(const Args& argv) {
  CmdResult last;
  for (int i = 0; i < 50; ++i) {
    last = run_cmd(argv);
    if (last.exit_code == 0) {
      return;
    }
    // Backing off on a lock held by another process (not waiting for an event of ours).
    std::this_thread::sleep_for(100ms);
  }
  FAIL(argv.front() << " failed: " << last.err);
}

} // namespace

std::string home_of(const std::string& user) {
  passwd* pw = ::getpwnam(user.c_str());
  REQUIRE(pw != nullptr);
  return pw->pw_dir;
}

uid_t owner_of_path(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_uid;
}

void fresh_far_user(const std::string& name, const std::string& shell) {
  (void)sshd(); // the sshd and its users first
  if (::getpwnam(name.c_str()) == nullptr) {
    CmdResult made = run_cmd({"useradd", "-m", "-s", shell, name});
    if (made.exit_code != 0 && ::getpwnam(name.c_str()) == nullptr) {
      retry_cmd({"useradd", "-m", "-s", shell, name});
    }
  }
  retry_cmd({"usermod", "-s", shell, "-p", "*", name});
  std::filesystem::remove_all(far_cache(name));
  std::filesystem::remove_all(far_spool(name));
}

std::string far_cache(const std::string& user) {
  return home_of(user) + "/.cache/chaperone";
}

std::string far_spool(const std::string& user) {
  return home_of(user) + "/.local/state/chaperone/spool";
}

Args far_options(const std::string& login, Via via) {
  Route route{
      via, login, false, {"ServerAliveInterval=1", "ServerAliveCountMax=2", "ConnectTimeout=2"}};
  Args options = sshd().options(route);
  options.insert(options.end(), {"--hold", "far"});
  return options;
}

nlohmann::json link_of(const TempSpool& spool, const std::string& id) {
  nlohmann::json state = spool.state(id);
  return state.value("link", nlohmann::json::object());
}

std::string far_id_of(const TempSpool& spool, const std::string& id) {
  return spool.state(id).at("far").at("run_id").get<std::string>();
}

std::vector<pid_t> far_pids(const std::string& user, const std::vector<std::string>& words) {
  uid_t uid = uid_of(user);
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    pid_t pid = std::stoi(name);
    auto owner = owner_of(pid);
    if (!owner || *owner != uid) {
      continue;
    }
    std::string cmdline = slurp(entry.path() / "cmdline");
    bool all = !cmdline.empty();
    for (const std::string& word : words) {
      all = all && cmdline.find(word) != std::string::npos;
    }
    if (all && process_running(pid)) {
      found.push_back(pid);
    }
  }
  return found;
}

std::vector<pid_t> session_sshds(pid_t pid) {
  std::vector<pid_t> found;
  for (int depth = 0; depth < 16; ++depth) {
    auto parent = parent_of(pid);
    if (!parent || *parent <= 1 || *parent == sshd().listener_pid()) {
      break;
    }
    std::string comm = slurp("/proc/" + std::to_string(*parent) + "/comm");
    if (comm.rfind("sshd", 0) == 0) {
      found.push_back(*parent);
    }
    pid = *parent;
  }
  return found;
}

LinkCut::LinkCut() {
  std::string port = std::to_string(sshd().port());
  for (const char* direction : {"--dport", "--sport"}) {
    m_rules.push_back({"INPUT", "-i", "lo", "-p", "tcp", direction, port, "-j", "DROP"});
  }
  for (const Args& rule : m_rules) {
    Args argv{"iptables", "-w", "-I"};
    argv.insert(argv.end(), rule.begin(), rule.end());
    CmdResult r = run_cmd(argv);
    REQUIRE(r.exit_code == 0);
  }
}

LinkCut::~LinkCut() {
  for (const Args& rule : m_rules) {
    Args argv{"iptables", "-w", "-D"};
    argv.insert(argv.end(), rule.begin(), rule.end());
    std::string cmd;
    for (const std::string& a : argv) {
      cmd += a + " ";
    }
    if (std::system((cmd + ">/dev/null 2>&1").c_str()) != 0) {
      (void)std::fprintf(stderr, "far: %s failed\n", cmd.c_str());
    }
  }
}

void FarCleanup::add(const std::string& user, const std::string& far_id) {
  m_runs.emplace_back(user, far_id);
}

FarCleanup::~FarCleanup() {
  for (const auto& [user, far_id] : m_runs) {
    std::string dir = far_spool(user) + "/" + far_id;
    try {
      nlohmann::json state = nlohmann::json::parse(slurp(dir + "/state.json"));
      std::string s = state.value("state", "");
      if (s == "running" || s == "starting") {
        if (state.contains("pgid") && state["pgid"].is_number() && state["pgid"].get<int>() > 1) {
          ::kill(-state["pgid"].get<int>(), SIGKILL);
        }
        if (state.contains("supervisor_pid") && state["supervisor_pid"].is_number()) {
          ::kill(state["supervisor_pid"].get<int>(), SIGKILL);
        }
      }
    } catch (const std::exception&) {
      // never started there, or already gone
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

} // namespace chaperone::test
