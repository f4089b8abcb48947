// chaperone/spawn.cpp: posix_spawn wrapper. posix_spawn (clone(CLONE_VM|CLONE_VFORK) in
// glibc) rather than fork: no copy of the parent's memory, and the exec error comes back
// as the return value, with no pipe to set up (PLATFORM.md "Process launching").
#include "chaperone/supervisor/spawn.hpp"

#include "spool/error.hpp"
#include "spool/fd.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>

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

// Candidate paths for argv0, computed before the fork (the child may not allocate): as
// execvp, a name with '/' is used as is, else each PATH entry is tried in order.
std::vector<std::string> exec_candidates(const std::string& program, char** env) {
  if (program.find('/') != std::string::npos) {
    return {program};
  }
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (char** entry = env; entry != nullptr && *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "PATH=", 5) == 0) {
      path = *entry + 5;
    }
  }
  std::vector<std::string> candidates;
  size_t start = 0;
  for (;;) {
    size_t end = path.find(':', start);
    std::string dir =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + program);
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return candidates;
}

// Closes every fd from `first` up, except the (up to two) in `keep`, -1 for none.
void close_all_from_except(int first, int keep_low, int keep_high) {
  if (keep_low > keep_high) {
    std::swap(keep_low, keep_high);
  }
  for (int keep : {keep_low, keep_high}) {
    if (keep < first) {
      continue;
    }
    if (keep > first) {
      ::syscall(SYS_close_range, first, keep - 1, 0);
    }
    first = keep + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0);
}

// After fork, the part both fork paths share: session or group, default signals, stdio and
// the extra fds, cwd, every other fd closed except `keep_a` and `keep_b` (-1 for none; both
// close-on-exec, and moved above the targets if they were in the way: their new numbers are
// stored back). Only async-signal-safe calls, no allocation. Returns 0, or the errno of the
// failure.
int prepare_child(const SpawnRequest& request, int& keep_a, int& keep_b) {
  if (request.new_session) {
    ::setsid();
  } else if (request.new_process_group) {
    ::setpgid(0, 0);
  }
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signum = 1; signum < NSIG; ++signum) {
    ::sigaction(signum, &default_action, nullptr); // fails harmlessly for KILL/STOP
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  int first_unused = 3;
  for (auto [source, target] : request.extra_fds) {
    first_unused = std::max(first_unused, target + 1);
  }
  for (int* keep : {&keep_a, &keep_b}) {
    if (*keep >= 0 && *keep < first_unused) {
      *keep = ::fcntl(*keep, F_DUPFD_CLOEXEC, first_unused);
      if (*keep < 0) {
        return errno;
      }
    }
  }
  int stdio[3] = {request.stdin_fd, request.stdout_fd, request.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    int source = stdio[target];
    if (source < 0) {
      source = ::open("/dev/null", target == 0 ? O_RDONLY : O_WRONLY);
      if (source < 0) {
        return errno;
      }
    }
    if (source == target) {
      ::fcntl(target, F_SETFD, 0);
    } else if (::dup2(source, target) < 0) {
      return errno;
    }
  }
  for (auto [source, target] : request.extra_fds) {
    if (::dup2(source, target) < 0) {
      return errno;
    }
  }
  if (request.cwd_fd >= 0 && ::fchdir(request.cwd_fd) != 0) {
    return errno;
  }
  close_all_from_except(first_unused, keep_a, keep_b);
  return 0;
}

// The exec, as execvp: each candidate in order. Returns the errno to report.
int exec_first_candidate(const std::vector<char*>& argv,
                         char** env,
                         const std::vector<char*>& candidates) {
  int saved = ENOENT;
  for (char* candidate : candidates) {
    ::execve(candidate, argv.data(), env);
    // As execvp: keep looking after ENOENT/ENOTDIR, remember EACCES, stop on anything else.
    if (errno == EACCES) {
      saved = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      saved = errno;
      break;
    }
  }
  return saved;
}

// After fork: only async-signal-safe calls, no allocation. Reports an errno through
// `error_fd` (close-on-exec, so a successful exec closes it with nothing written).
// Everything but the exec is done before the go-ahead, while the parent records our pid:
// the go byte then releases only the execve.
[[noreturn]] void exec_child(const SpawnRequest& request,
                             pid_t parent,
                             const std::vector<char*>& argv,
                             char** env,
                             const std::vector<char*>& candidates,
                             int error_fd,
                             int go_fd) {
  auto fail = [&error_fd](int error) {
    ssize_t ignored = ::write(error_fd, &error, sizeof error);
    (void)ignored;
    ::_exit(127);
  };
  if (::prctl(PR_SET_PDEATHSIG, request.parent_death_signal) != 0) {
    fail(errno);
  }
  // The parent may have died between fork and prctl: then no signal would ever come.
  if (::getppid() != parent) {
    ::_exit(127);
  }
  if (int error = prepare_child(request, error_fd, go_fd); error != 0) {
    fail(error);
  }
  // Wait for the parent's go-ahead (it records our pid first); EOF means it gave up or died.
  // Our signals are at their defaults by now: one sent to the recorded group ends us here,
  // which the parent sees as EPIPE on the go byte.
  char go = 0;
  ssize_t got;
  do {
    got = ::read(go_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) {
    ::_exit(127);
  }
  ::close(go_fd);
  fail(exec_first_candidate(argv, env, candidates));
  ::_exit(127); // not reached: fail() exits
}

// fork() with every signal blocked across it: no handler of ours (libuv's, which writes
// into our signal pipe) may run in the child before prepare_child() resets the dispositions
// and unblocks. The parent's mask is restored before the return; the child keeps all blocked.
// Throws std::system_error if the fork fails.
pid_t fork_with_signals_blocked() {
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_t pid = ::fork();
  if (pid == 0) {
    return 0;
  }
  int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (pid < 0) {
    spool::throw_error_code(fork_errno, "fork");
  }
  return pid;
}

std::vector<std::string> candidates_for(const SpawnRequest& request, char** env) {
  return request.search_path ? exec_candidates(request.argv.front(), env)
                             : std::vector<std::string>{request.argv.front()};
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size());
  for (std::string& text : strings) {
    pointers.push_back(text.data());
  }
  return pointers;
}

pid_t fork_exec(const SpawnRequest& request, const std::vector<char*>& argv, char** env) {
  std::vector<std::string> candidates = candidates_for(request, env);
  std::vector<char*> candidate_ptrs = pointers_to(candidates);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    spool::throw_errno("pipe2");
  }
  spool::Fd error_read(error_pipe[0]);
  spool::Fd error_write(error_pipe[1]);
  int go_pipe[2];
  if (::pipe2(go_pipe, O_CLOEXEC) != 0) {
    spool::throw_errno("pipe2");
  }
  spool::Fd go_read(go_pipe[0]);
  spool::Fd go_write(go_pipe[1]);
  pid_t parent = ::getpid();
  pid_t pid = fork_with_signals_blocked();
  if (pid == 0) {
    exec_child(request, parent, argv, env, candidate_ptrs, error_write.get(), go_read.get());
  }
  error_write.reset();
  go_read.reset();
  // The child joins its own group only after the go byte; set it from here too (the usual
  // double setpgid) so that the group already exists when before_exec publishes it.
  if (request.new_process_group && !request.new_session) {
    ::setpgid(pid, pid);
  }
  if (request.before_exec) {
    try {
      request.before_exec(pid);
    } catch (...) {
      ::kill(pid, SIGKILL);
      int status;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      throw;
    }
  }
  const char go = 1;
  if (::write(go_write.get(), &go, 1) != 1) {
    // EPIPE: the child is gone before it read the go byte. Its group was published by
    // before_exec, so a signal sent to the run right after `run -d` (kill -s KILL) can land
    // here; that is the program being killed, not a failure to start it. The caller reaps
    // the child and records the signal from its wait status.
    if (errno != EPIPE) {
      spool::throw_errno("write go pipe");
    }
    return pid;
  }
  go_write.reset();
  if (request.after_release) {
    request.after_release(); // overlaps the child's execve; may not throw
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    // Exec failed: reap the child now so that the caller never sees it.
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    spool::throw_error_code(child_errno, "exec " + request.argv.front());
  }
  return pid;
}

// argv and envp as execve wants them, pointing into `request`.
struct ExecVectors {
  std::vector<char*> argv;
  std::vector<char*> envp;
  char** env = environ;
};

ExecVectors exec_vectors(const SpawnRequest& request) {
  if (request.argv.empty()) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument), "spawn: empty argv");
  }
  ExecVectors vectors;
  vectors.argv.reserve(request.argv.size() + 1);
  for (const std::string& arg : request.argv) {
    vectors.argv.push_back(const_cast<char*>(arg.c_str()));
  }
  vectors.argv.push_back(nullptr);
  if (request.env) {
    vectors.envp.reserve(request.env->size() + 1);
    for (const std::string& entry : *request.env) {
      vectors.envp.push_back(const_cast<char*>(entry.c_str()));
    }
    vectors.envp.push_back(nullptr);
    vectors.env = vectors.envp.data();
  }
  return vectors;
}

} // namespace

pid_t spawn_without_waiting(const SpawnRequest& request,
                            const std::function<void(int)>& on_exec_failure,
                            const std::function<void(char** env)>& instead_of_exec) {
  ExecVectors vectors = exec_vectors(request);
  std::vector<std::string> candidates = candidates_for(request, vectors.env);
  std::vector<char*> candidate_ptrs = pointers_to(candidates);
  pid_t pid = fork_with_signals_blocked();
  if (pid == 0) {
    int no_fd = -1;
    int error = prepare_child(request, no_fd, no_fd);
    if (error == 0 && instead_of_exec) {
      instead_of_exec(vectors.env); // returns only to fall back to the exec
    }
    if (error == 0) {
      error = exec_first_candidate(vectors.argv, vectors.env, candidate_ptrs);
    }
    if (on_exec_failure) {
      try {
        on_exec_failure(error);
      } catch (...) {
        // Nobody is left to tell: the run then reads as lost (its lock is free).
      }
    }
    ::_exit(127);
  }
  return pid;
}

pid_t spawn_process(const SpawnRequest& request) {
  ExecVectors vectors = exec_vectors(request);
  std::vector<char*>& argv = vectors.argv;
  char** env = vectors.env;
  if (request.parent_death_signal != 0) {
    return fork_exec(request, argv, env);
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
