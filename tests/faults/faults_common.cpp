// tests/faults/faults_common.cpp
#include "tests/faults/faults_common.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace chaperone::test::faults {

std::vector<std::string>
seq_program(unsigned n, int code, unsigned chunk, unsigned pause_us, bool err) {
  return {helper(),
          "seq",
          std::to_string(n),
          std::to_string(code),
          std::to_string(chunk),
          std::to_string(pause_us),
          err ? "1" : "0"};
}

std::string seq_stdout(unsigned n) {
  std::string text;
  text.reserve(static_cast<std::size_t>(n) * 12);
  char line[32];
  for (unsigned i = 1; i <= n; ++i) {
    int len = std::snprintf(line, sizeof line, "seq %07u\n", i);
    text.append(line, static_cast<std::size_t>(len));
  }
  return text;
}

std::string seq_stderr(unsigned n, unsigned chunk) {
  std::string text;
  unsigned writes = (n + chunk - 1) / chunk;
  for (unsigned k = 1; k <= writes; ++k) {
    text += "err " + std::to_string(k) + "\n";
  }
  return text;
}

Spawned spawn_to_files(const std::vector<std::string>& argv,
                       const std::filesystem::path& spool_root,
                       const std::filesystem::path& dir,
                       const std::string& tag) {
  Spawned p;
  p.out = dir / (tag + ".out");
  p.err = dir / (tag + ".err");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CHAPERONE_SPOOL=", 16) != 0) {
      env_strings.emplace_back(*e);
    }
  }
  env_strings.push_back("CHAPERONE_SPOOL=" + spool_root.string());
  std::vector<char*> envp;
  for (std::string& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (std::string& s : args) {
    cargv.push_back(s.data());
  }
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int rc = ::posix_spawn(&p.pid, cargv[0], &actions, nullptr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  }
  return p;
}

Spawned spawn_chaperone(const std::vector<std::string>& args,
                        const std::filesystem::path& spool_root,
                        const std::filesystem::path& dir,
                        const std::string& tag,
                        const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  argv.emplace_back(chaperone_path());
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_to_files(argv, spool_root, dir, tag);
}

bool try_reap(Spawned& p) {
  if (p.exit_code) {
    return true;
  }
  int status = 0;
  pid_t r = ::waitpid(p.pid, &status, WNOHANG);
  if (r != p.pid) {
    return false;
  }
  if (WIFEXITED(status)) {
    p.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    p.signal = WTERMSIG(status);
    p.exit_code = 128 + WTERMSIG(status);
  }
  return true;
}

bool reap_all(std::vector<Spawned*> ps, Clock::time_point deadline, const std::string& what) {
  bool ok = wait_until(deadline, what, [&] {
    bool all = true;
    for (Spawned* p : ps) {
      all = try_reap(*p) && all;
    }
    return all;
  });
  if (!ok) {
    for (Spawned* p : ps) {
      if (!p->exit_code) {
        ::kill(p->pid, SIGKILL);
        int status = 0;
        ::waitpid(p->pid, &status, 0);
        p->exit_code = -1;
      }
    }
  }
  return ok;
}

TestUser ensure_test_user(const char* name) {
  if (::getpwnam(name) == nullptr) {
    std::string command =
        std::string("useradd -M -s /usr/sbin/nologin ") + name + " > /dev/null 2>&1";
    if (std::system(command.c_str()) != 0 && ::getpwnam(name) == nullptr) {
      throw std::runtime_error(std::string("cannot create test user ") + name + " (needs root)");
    }
  }
  const passwd* pw = ::getpwnam(name);
  if (pw == nullptr) {
    throw std::runtime_error(std::string("no user ") + name);
  }
  return {pw->pw_uid, pw->pw_gid};
}

void give_spool_to(const TempSpool& spool, const TestUser& user) {
  for (const auto& path : {spool.base(), spool.root(), spool.scratch()}) {
    if (::chown(path.c_str(), user.uid, user.gid) != 0) {
      throw std::runtime_error("chown " + path.string() + ": " + std::strerror(errno));
    }
  }
}

std::vector<std::string> as_user(const TestUser& user) {
  return {helper(), "as-user", std::to_string(user.uid), std::to_string(user.gid)};
}

std::vector<pid_t> supervisors_of(const std::filesystem::path& run_dir) {
  std::vector<pid_t> pids;
  for (const ProcessSnapshot& p : list_processes()) {
    // argv[0] ends in chaperone-supervisor and the run dir is one of its own arguments (before
    // "--"; where it stands among them is the launcher's business).
    std::vector<std::string> argv = read_proc_argv(p.pid);
    auto named = [&](std::string_view tool) {
      return !argv.empty() && argv[0].size() >= tool.size()
             && argv[0].compare(argv[0].size() - tool.size(), tool.size(), tool) == 0;
    };
    // A supervisor held as chaperone-hold (README "What happens to processes") carries the
    // supervisor's own argv after its first "--".
    if (named("chaperone-hold")) {
      auto own_end = std::find(argv.begin(), argv.end(), "--");
      argv.erase(argv.begin(), own_end == argv.end() ? own_end : own_end + 1);
    }
    if (!named("chaperone-supervisor")) {
      continue;
    }
    auto end = std::find(argv.begin(), argv.end(), "--");
    if (std::find(argv.begin() + 1, end, run_dir.string()) != end) {
      pids.push_back(p.pid);
    }
  }
  return pids;
}

std::vector<pid_t> processes_with_env(const std::string& name_value) {
  std::vector<pid_t> pids;
  for (const ProcessSnapshot& p : list_processes()) {
    if (p.live() && has_entry(read_proc_file(p.pid, "environ"), name_value)) {
      pids.push_back(p.pid);
    }
  }
  return pids;
}

std::vector<std::string> tree(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    names.push_back(entry.path().lexically_relative(dir).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string shown(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& arg : args) {
    text += (text.empty() ? "[" : " [") + arg + "]";
  }
  return text;
}

} // namespace chaperone::test::faults
