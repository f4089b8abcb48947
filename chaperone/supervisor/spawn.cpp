// chaperone/spawn.cpp: posix_spawn wrapper. posix_spawn (clone(CLONE_VM|CLONE_VFORK) in
// glibc) rather than fork: no copy of the parent's memory, and the exec error comes back
// as the return value, with no pipe to set up (PLATFORM.md "Process launching").
#include "chaperone/supervisor/spawn.hpp"

#include "chaperone/supervisor/raw_syscall.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
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
      raw::call(SYS_close_range, first, keep - 1, 0);
    }
    first = keep + 1;
  }
  raw::call(SYS_close_range, first, ~0U, 0);
}

// The kernel's sigaction for SIG_DFL: every field zero (handler, flags, restorer, mask), on
// x86-64 and arm64 alike; the last element leaves room for either layout.
struct KernelDefaultAction {
  unsigned long fields[4] = {};
};

// Signals libc keeps for itself (glibc: SIGCANCEL, SIGSETXID) or the kernel does not let
// anyone change: skipped rather than tried, as a failed call would be the only errno write.
bool resettable(int signum) {
  return signum != SIGKILL && signum != SIGSTOP && signum != 32 && signum != 33;
}

int failure(long result) {
  return result < 0 ? static_cast<int>(-result) : 0;
}

// After fork or clone: the part both paths share: session or group, default signals, stdio
// and the extra fds, cwd, every other fd closed except `keep_a` and `keep_b` (-1 for none;
// both close-on-exec, and moved above the targets if they were in the way: their new
// numbers are stored back). Raw system calls only (raw_syscall.hpp): no allocation, no
// errno. Returns 0, or the errno of the failure.
int prepare_child(const SpawnRequest& request, int& keep_a, int& keep_b) {
  if (request.new_session) {
    raw::call(SYS_setsid);
  } else if (request.new_process_group) {
    raw::call(SYS_setpgid, 0, 0);
  }
  KernelDefaultAction default_action;
  for (int signum = 1; signum < NSIG; ++signum) {
    if (resettable(signum)) {
      raw::call(SYS_rt_sigaction, signum, &default_action, 0, sizeof(std::uint64_t));
    }
  }
  std::uint64_t empty = 0;
  raw::call(SYS_rt_sigprocmask, SIG_SETMASK, &empty, 0, sizeof empty);
  int first_unused = 3;
  for (auto [source, target] : request.extra_fds) {
    first_unused = std::max(first_unused, target + 1);
  }
  for (int* keep : {&keep_a, &keep_b}) {
    if (*keep >= 0 && *keep < first_unused) {
      long moved = raw::call(SYS_fcntl, *keep, F_DUPFD_CLOEXEC, first_unused);
      if (moved < 0) {
        return failure(moved);
      }
      *keep = static_cast<int>(moved);
    }
  }
  int stdio[3] = {request.stdin_fd, request.stdout_fd, request.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    long source = stdio[target];
    if (source < 0) {
      source = raw::call(SYS_openat, AT_FDCWD, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY);
      if (source < 0) {
        return failure(source);
      }
    }
    if (source == target) {
      raw::call(SYS_fcntl, target, F_SETFD, 0);
    } else if (long moved = raw::call(SYS_dup3, source, target, 0); moved < 0) {
      return failure(moved);
    }
  }
  for (auto [source, target] : request.extra_fds) {
    if (long moved = raw::call(SYS_dup3, source, target, 0); moved < 0) {
      return failure(moved);
    }
  }
  if (request.cwd_fd >= 0) {
    if (long changed = raw::call(SYS_fchdir, request.cwd_fd); changed < 0) {
      return failure(changed);
    }
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
    int error = failure(raw::call(SYS_execve, candidate, argv.data(), env));
    // As execvp: keep looking after ENOENT/ENOTDIR, remember EACCES, stop on anything else.
    if (error == EACCES) {
      saved = EACCES;
    } else if (error != ENOENT && error != ENOTDIR) {
      saved = error;
      break;
    }
  }
  return saved;
}

// What the child of fork_exec needs, in the parent's memory (which it shares, unchanged
// until the child has exec'd or exited).
struct ExecChild {
  const SpawnRequest* request;
  pid_t parent;
  const std::vector<char*>* argv;
  char** env;
  const std::vector<char*>* candidates;
  int error_fd;
  int go_fd;
};

[[noreturn]] void exit_child(int code) {
  for (;;) {
    raw::call(SYS_exit_group, code);
  }
}

// Reports an errno through `error_fd` (close-on-exec, so a successful exec closes it with
// nothing written) and exits 127.
[[noreturn]] void report_and_exit(int error_fd, int error) {
  raw::call(SYS_write, error_fd, &error, sizeof error);
  exit_child(127);
}

// The child of fork_exec. Raw system calls only, no allocation: it may share our memory
// (clone_exec_child). Everything but the exec is done before the go-ahead, while the parent
// records our pid: the go byte then releases only the execve. Never returns.
int exec_child(void* argument) {
  ExecChild& child = *static_cast<ExecChild*>(argument);
  if (int error = failure(
          raw::call(SYS_prctl, PR_SET_PDEATHSIG, child.request->parent_death_signal, 0, 0, 0));
      error != 0) {
    report_and_exit(child.error_fd, error);
  }
  // The parent may have died between fork and prctl: then no signal would ever come.
  if (raw::call(SYS_getppid) != child.parent) {
    exit_child(127);
  }
  if (int error = prepare_child(*child.request, child.error_fd, child.go_fd); error != 0) {
    report_and_exit(child.error_fd, error);
  }
  // Wait for the parent's go-ahead (it records our pid first); EOF means it gave up or died.
  // Our signals are at their defaults by now: one sent to the recorded group ends us here,
  // which the parent sees as EPIPE on the go byte.
  char go = 0;
  long got;
  do {
    got = raw::call(SYS_read, child.go_fd, &go, 1);
  } while (got == -EINTR);
  if (got != 1) {
    exit_child(127);
  }
  raw::call(SYS_close, child.go_fd);
  report_and_exit(child.error_fd, exec_first_candidate(*child.argv, child.env, *child.candidates));
}

// Creates a child (`create`: a fork or a clone, named `what` in errors) with every signal
// blocked across it: no handler of ours (libuv's, which writes into our signal pipe) may run
// in the child before prepare_child() resets the dispositions and unblocks. The parent's
// mask is restored before the return; the child keeps all blocked. Throws
// std::system_error if the child cannot be created.
template <typename Create> pid_t with_signals_blocked(const char* what, Create create) {
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_t pid = create();
  if (pid == 0) {
    return 0;
  }
  int create_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (pid < 0) {
    spool::throw_error_code(create_errno, what);
  }
  return pid;
}

pid_t fork_with_signals_blocked() {
  return with_signals_blocked("fork", [] { return ::fork(); });
}

// The stack of a child that shares our memory (none where the child is forked instead).
// Unmapped only once the child is known to be off it (exec'd, exited or reaped); `abandon`
// leaves it mapped when that is not known.
class ChildStack {
public:
  static constexpr std::size_t k_size = std::size_t{64} * 1024;
  ChildStack() {
    if constexpr (!raw::k_available) {
      return;
    }
    void* base = ::mmap(
        nullptr, k_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
      spool::throw_errno("mmap child stack");
    }
    m_base = static_cast<char*>(base);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  ChildStack(ChildStack&&) = delete;
  ChildStack& operator=(ChildStack&&) = delete;
  ~ChildStack() {
    if (m_base != nullptr) {
      ::munmap(m_base, k_size);
    }
  }
  void* top() const { return m_base + k_size; } // stacks grow down on every target we build
  void abandon() { m_base = nullptr; }

private:
  char* m_base = nullptr;
};

// Starts exec_child. Where raw::k_available (x86-64 and arm64, not sanitizer builds:
// raw_syscall.hpp) it shares our memory until its exec, as posix_spawn's child does
// (clone(CLONE_VM)), but without suspending us: we record its pid while it gets ready. A fork would
// copy our page tables and leave both processes a copy-on-write fault for each page either writes
// next; on the 2-vCPU VM of docs/bench each fault costs ~2.4 us, and the supervisor took ~40 of
// them per launch (docs/bench/LAUNCH-2026-12-03e.md). Elsewhere it forks. Every signal is blocked
// across it. Throws std::system_error if the child cannot be created.
pid_t clone_exec_child(ExecChild& child, ChildStack& stack) {
  if constexpr (!raw::k_available) {
    pid_t pid = fork_with_signals_blocked();
    if (pid == 0) {
      (void)exec_child(&child);
    }
    return pid;
  }
  // The child starts in exec_child on its own stack and never returns here.
  return with_signals_blocked(
      "clone", [&] { return ::clone(exec_child, stack.top(), CLONE_VM | SIGCHLD, &child); });
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
  ExecChild child{
      &request, ::getpid(), &argv, env, &candidate_ptrs, error_write.get(), go_read.get()};
  ChildStack stack;
  pid_t pid = clone_exec_child(child, stack);
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
  if (n < 0) {
    stack.abandon(); // the child may still be on it
  }
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
