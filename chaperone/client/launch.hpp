// chaperone/launch.hpp: create a run and hand it to a detached supervisor (no CLI needed).
#pragma once

#include "cmdbuild/command.hpp"
#include "spool/file_lock.hpp"
#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace chaperone {

// What launch_run does when the named run exists already.
enum class IfExists {
  fail,    // throw std::system_error EEXIST "run N already exists"
  attach,  // return it (LaunchedRun::existing), whatever its state
  replace, // keep a final one under "N@<end time>" and start anew; a live one is an error
};

struct LaunchRequest {
  std::string run_id;                   // empty: a new time-sorted id
  IfExists if_exists = IfExists::fail;  // with a run_id only
  cmdbuild::Program program;            // argv; cwd absolute (local runs: empty = "/")
  cmdbuild::Target target;              // mode local for local runs
  std::string stdin_path = "/dev/null"; // absolute; read by the program (local runs)
  // Local runs: the program's stdin as data, stored in the run dir (file "stdin", 0600)
  // before the run is published and read from there; replaces stdin_path.
  std::optional<std::string> stdin_data;
  // Further files (name, content) created 0600 in the run dir before it is published, so a
  // reader never sees the run without them (e.g. the callback settings).
  std::vector<std::pair<std::string, std::string>> extra_files;
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_after{10'000};
  bool keep_children = false;
  std::uint64_t max_output = 0; // per stream; 0 = unlimited
  bool stop_on_max_output = false;
  bool record_env = false;               // store --env values in spec.json (else names only)
  std::vector<std::string> base_env;     // the caller's environment, "K=V"
  std::filesystem::path supervisor_path; // the chaperone-supervisor binary
  // Durable remote run (`--hold far`): the program runs under a chaperone on the far host
  // (shipped there if missing) and the local supervisor mirrors it. ssh modes only;
  // stdin must be /dev/null.
  bool hold_far = false;
  // A local run that will hand off may get a supervisor forked from this process without
  // exec (client/in_image_start.hpp): ~0.5 ms sooner at its program on the bench VM. Only
  // for a single-threaded caller (the child runs the supervisor on a copy of this process:
  // a lock another thread held at the fork would stay held in it). Off: always exec.
  bool supervisor_in_image = false;
  // Started in front of the supervisor, which it must exec in place (e.g. systemd-run
  // --scope ... --); its first word is an absolute path. Empty: the supervisor directly.
  std::vector<std::string> supervisor_wrapper;
  // What the supervisor waits for before it starts the program (chaperone/supervisor/gate.hpp),
  // merged into spec.config: locks [{name, mode}], slots [{name, count}], after [{run_id,
  // ok}], lock_timeout_ms (null: forever; 0: --no-wait), on_exit (a /bin/sh command or null).
  nlohmann::json workflow = nlohmann::json::object();
  // The caller will follow the run (attached `run`): make an inotify instance for its
  // Follower (FollowOptions::inotify_fd) and let the supervisor hold a copy of it until it
  // exits. The last close of an instance waits for the kernel's mark reaper (an SRCU grace
  // period: 15 ms at times on a busy machine); the supervisor then pays it after the final
  // state, not the caller on its way to the exit status.
  bool share_watch = false;
  // Hold LaunchedRun::reader_mark from before the run becomes visible (a caller that will
  // follow it). Off for `run -d`: one file fewer to create on the way back; the first reader
  // creates it.
  bool mark_reader = true;
  // The caller will follow the run: launch_run returns only once a forked supervisor
  // (in_image_start.hpp) has let the program go, or waits at a gate, or failed to start it,
  // or k_program_start_wait has passed; the caller sleeps meanwhile. This VM's scheduler keeps
  // a new process on its parent's CPU while the other one idles: the caller's own set-up for
  // following the run then went first and the supervisor waited ~150 us for the CPU, on the
  // way to the program's start (docs/bench/LAUNCH-2026-12-04c.md). No effect on an exec'd
  // supervisor.
  bool await_program_start = false;
};

// LaunchRequest::await_program_start's limit: past it the caller goes on as if it had not
// waited (a supervisor slowed by a loaded machine or a slow disk is followed as any other).
constexpr int k_program_start_wait_ms = 50;

// The run-dir file that holds LaunchRequest::stdin_data.
constexpr const char* k_stdin_data_file = "stdin";

struct LaunchedRun {
  spool::RunDir run;
  pid_t supervisor_pid;  // 0 if `existing`
  bool existing = false; // IfExists::attach found the run there: nothing was started
  std::string replaced;  // IfExists::replace: the id the earlier run is kept under, if any
  // Held from before the run became visible: `gc` cannot remove it under a caller that
  // attaches to it, however fast it ends (spool/reader_mark.hpp). Drop it to let go.
  spool::FileLock reader_mark;
  // LaunchRequest::share_watch: the inotify instance to lend to the Follower; closed by the
  // caller once the Follower is done.
  spool::Fd watch;
  // LaunchRequest::share_watch, the supervisor started as our child without a wrapper: its
  // pidfd, opened before the run became visible (FollowOptions::supervisor_pidfd).
  spool::Fd supervisor_pidfd;
  // LaunchRequest::await_program_start: how long the caller slept (unset: it did not), and
  // whether the supervisor woke it (false: the limit, or a signal, ended the sleep first).
  std::optional<std::chrono::microseconds> program_start_wait;
  bool program_start_woken = false;
};

// Validates the request (std::invalid_argument naming the problem, nothing created),
// creates the run in `root` and starts its supervisor in a new session. The run is built
// in a hidden temp dir with its lock held, the supervisor is started with that lock, and only
// then is the dir renamed into place: a run is visible only once its supervisor holds it, so
// a caller killed at any moment leaves no `lost` run that never ran (at most a hidden temp
// dir that `gc` sweeps). If the supervisor process cannot be created (fork, a missing or
// unexecutable supervisor path) nothing is created and std::system_error is thrown. The exec
// itself is not waited for: should it fail, the run ends `failed` (exit code 125) with
// "exec PATH: REASON" as its error. Forks: call it from a single-threaded process.
LaunchedRun launch_run(const spool::SpoolRoot& root, const LaunchRequest& request);

// The supervisor binary next to the running executable (/proc/self/exe), or in
// ../libexec/chaperone/ from there.
std::filesystem::path default_supervisor_path();

// The `chaperone` front end that belongs with `supervisor` (beside it, or ../../bin/ from
// libexec/chaperone/): the binary shipped to a far host.
std::filesystem::path default_front_end_path(const std::filesystem::path& supervisor);

// The far `chaperone run` options (after `run -d --name ID`) for a --hold far request.
std::vector<std::string> far_run_args(const LaunchRequest& request);

} // namespace chaperone
