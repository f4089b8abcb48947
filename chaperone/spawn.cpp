// chaperone/spawn.cpp: posix_spawn wrapper. posix_spawn (clone(CLONE_VM|CLONE_VFORK) in
// glibc) rather than fork: no copy of the parent's memory, and the exec error comes back
// as the return value, with no pipe to set up (PLATFORM.md "Process launching").
#include "chaperone/spawn.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

extern char** environ;

namespace chaperone {

namespace {

// RAII owners for the two posix_spawn object types.
class FileActions {
public:
  FileActions() {
    if (int rc = ::posix_spawn_file_actions_init(&m_actions); rc != 0) {
      spool::throw_error_code(rc, "posix_spawn_file_actions_init");
    }
  }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  FileActions(FileActions&&) = delete;
  FileActions& operator=(FileActions&&) = delete;
  ~FileActions() { ::posix_spawn_file_actions_destroy(&m_actions); }
  posix_spawn_file_actions_t* get() { return &m_actions; }

private:
  posix_spawn_file_actions_t m_actions{};
};

class SpawnAttributes {
public:
  SpawnAttributes() {
    if (int rc = ::posix_spawnattr_init(&m_attr); rc != 0) {
      spool::throw_error_code(rc, "posix_spawnattr_init");
    }
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  SpawnAttributes(SpawnAttributes&&) = delete;
  SpawnAttributes& operator=(SpawnAttributes&&) = delete;
  ~SpawnAttributes() { ::posix_spawnattr_destroy(&m_attr); }
  posix_spawnattr_t* get() { return &m_attr; }

private:
  posix_spawnattr_t m_attr{};
};

void check(int rc, const char* what) {
  if (rc != 0) {
    spool::throw_error_code(rc, what);
  }
}

void stdio_action(posix_spawn_file_actions_t* actions, int source, int target) {
  if (source >= 0) {
    check(::posix_spawn_file_actions_adddup2(actions, source, target),
          "posix_spawn_file_actions_adddup2");
  } else {
    check(::posix_spawn_file_actions_addopen(
              actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0),
          "posix_spawn_file_actions_addopen /dev/null");
  }
}

} // namespace

pid_t spawn_process(const SpawnRequest& request) {
  if (request.argv.empty()) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument), "spawn: empty argv");
  }
  std::vector<char*> argv;
  argv.reserve(request.argv.size() + 1);
  for (const std::string& arg : request.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  char** env = environ;
  if (request.env) {
    envp.reserve(request.env->size() + 1);
    for (const std::string& entry : *request.env) {
      envp.push_back(const_cast<char*>(entry.c_str()));
    }
    envp.push_back(nullptr);
    env = envp.data();
  }

  FileActions actions;
  // Stdio first: a source fd numbered 0-2 must be duplicated before anything lands on it.
  // Sources are moved above the extra targets by the caller's choice of fds (all ours are
  // >= 3 in practice since 0-2 are held open).
  stdio_action(actions.get(), request.stdin_fd, 0);
  stdio_action(actions.get(), request.stdout_fd, 1);
  stdio_action(actions.get(), request.stderr_fd, 2);
  int first_unused = 3;
  for (auto [source, target] : request.extra_fds) {
    check(::posix_spawn_file_actions_adddup2(actions.get(), source, target),
          "posix_spawn_file_actions_adddup2");
    first_unused = std::max(first_unused, target + 1);
  }
  if (request.cwd_fd >= 0) {
    check(::posix_spawn_file_actions_addfchdir_np(actions.get(), request.cwd_fd),
          "posix_spawn_file_actions_addfchdir_np");
  }
  check(::posix_spawn_file_actions_addclosefrom_np(actions.get(), first_unused),
        "posix_spawn_file_actions_addclosefrom_np");

  SpawnAttributes attributes;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (request.new_session) {
    flags |= POSIX_SPAWN_SETSID;
  } else if (request.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    check(::posix_spawnattr_setpgroup(attributes.get(), 0), "posix_spawnattr_setpgroup");
  }
  check(::posix_spawnattr_setflags(attributes.get(), flags), "posix_spawnattr_setflags");
  sigset_t set;
  sigemptyset(&set);
  check(::posix_spawnattr_setsigmask(attributes.get(), &set), "posix_spawnattr_setsigmask");
  sigfillset(&set);
  check(::posix_spawnattr_setsigdefault(attributes.get(), &set), "posix_spawnattr_setsigdefault");

  pid_t pid = -1;
  int rc = request.search_path
               ? ::posix_spawnp(&pid, argv[0], actions.get(), attributes.get(), argv.data(), env)
               : ::posix_spawn(&pid, argv[0], actions.get(), attributes.get(), argv.data(), env);
  if (rc != 0) {
    spool::throw_error_code(rc, "posix_spawn " + request.argv[0]);
  }
  return pid;
}

} // namespace chaperone
