// chaperone/spawn.hpp: posix_spawn with the file actions and attributes chaperone needs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chaperone {

struct SpawnRequest {
  std::vector<std::string> argv;               // argv[0] searched in PATH when search_path
  std::optional<std::vector<std::string>> env; // "K=V" entries; nullopt inherits environ
  int stdin_fd = -1;                           // dup2'ed onto 0; -1 opens /dev/null
  int stdout_fd = -1;                          // onto 1; -1 opens /dev/null
  int stderr_fd = -1;                          // onto 2; -1 opens /dev/null
  std::vector<std::pair<int, int>> extra_fds;  // (source, target >= 3), dup2'ed in order
  int cwd_fd = -1;                             // fchdir before exec; -1 keeps ours
  bool new_session = false;                    // setsid: own session and group, no terminal
  bool new_process_group = false;              // setpgid(0, 0)
  bool search_path = true;
  // Non-zero: the child gets this signal when we die (PR_SET_PDEATHSIG), so a program does
  // not outlive a SIGKILLed supervisor. posix_spawn has no such attribute, so this path
  // uses fork + exec (async-signal-safe calls only in the child). The kernel clears it when
  // the child execs a set-uid program (sudo), which then relies on the reader-side
  // clean-up of lost runs.
  int parent_death_signal = 0;
  // Fork path only: runs in the parent after the fork and before the child may exec; the
  // child waits for it (and dies if we die first). This is where the pid gets recorded, so
  // there is no moment in which the program runs unrecorded. If it throws, the child is
  // killed and reaped and the exception propagates.
  std::function<void(pid_t)> before_exec;
  // Fork path only: runs in the parent once the child may exec, before waiting to learn
  // whether the exec worked, so that it overlaps the child's execve. Must not throw.
  std::function<void()> after_release;
};

// Starts the process. Every other fd is closed in the child (closefrom), the signal mask is
// cleared and every signal disposition reset to default, so nothing of ours (ignored
// SIGHUP/SIGPIPE, libuv's handlers, fds a caller leaked to us) reaches the program.
// Throws std::system_error whose code is the errno of the failed exec or file action
// ("posix_spawn ARGV0: No such file or directory").
pid_t spawn_process(const SpawnRequest& request);

// As spawn_process, but returns as soon as the child exists, without waiting for its exec
// (posix_spawn's vfork blocks the caller until the new image is loaded: about a millisecond
// for a static binary, more when the machine is busy). If the exec fails, `on_exec_failure`
// runs in the child with the errno (every fd but stdio and extra_fds closed, signals at
// their defaults), which then exits 127. The child is a fork of the caller, so the caller
// must be single-threaded (the handler may allocate). parent_death_signal and before_exec
// are not supported here.
//
// With `instead_of_exec`, the child calls it where it would exec, with everything the exec
// would have given the new image already in place (session, signals at their defaults and
// unblocked, stdio, extra fds, cwd, every other fd closed) and the environment it would
// have passed: the child then becomes the new program without an exec (a supervisor forked
// from the front end, client/in_image_start.hpp). If it returns, the exec happens after all.
pid_t spawn_without_waiting(const SpawnRequest& request,
                            const std::function<void(int exec_errno)>& on_exec_failure,
                            const std::function<void(char** env)>& instead_of_exec = {});

} // namespace chaperone
