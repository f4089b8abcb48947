// chaperone/supervisor/supervisor.cpp: the supervisor's life: spawns the program, reacts to
// its end, to signals and timers, and writes the run's state. One libuv loop; signals arrive
// as loop events. The pieces live beside it: leftovers.cpp ends what the program leaves
// behind, remote_session.cpp talks to the far side, outcome.cpp decides the final state,
// supervisor_args.cpp is the command line.
#include "chaperone/supervisor/supervisor.hpp"

#include "chaperone/supervisor/far_group_end.hpp"
#include "chaperone/supervisor/gate.hpp"
#include "chaperone/supervisor/hand_off.hpp"
#include "chaperone/supervisor/idle_pages.hpp"
#include "chaperone/supervisor/leftovers.hpp"
#include "chaperone/supervisor/on_exit.hpp"
#include "chaperone/supervisor/outcome.hpp"
#include "chaperone/supervisor/output_relay.hpp"
#include "chaperone/supervisor/process_title.hpp"
#include "chaperone/supervisor/remote_session.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "cmdbuild/command.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"
#include "spool/file_lock.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/release_later.hpp"
#include "spool/run_dir.hpp"

#include <spdlog/logger.h>
#include <uv.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace chaperone {

namespace {

using spool::RunState;
using spool::RunStatus;

// The supervisor's life, as s6-supervise keeps it: one explicit phase, and each event
// handler does what this table says for the phase it finds (- = nothing to do).
//
//  event \ phase        starting  running            stopping           draining        final
//  program spawned      ->running
//  spawn failed         ->final (failed, 126/127/125)
//  program exited                 ->draining, arm    ->draining (grace  -               -
//                                 grace, TERM rest   already armed)
//  SIGTERM/SIGINT                 forward to group   forward to group   -               -
//  --timeout fires                ->stopping: TERM   -                  -               -
//                                 group+leftovers,
//                                 arm grace
//  --max-output stop              ->stopping (same)  -                  -               -
//  grace over                     -                  KILL group (far    KILL leftovers  -
//                                                    too) + leftovers
//  SIGCHLD of a leftover          -                  TERM/KILL it       TERM/KILL it    -
//  no child left, relays at EOF                                         ->final (write)
//  far side reports its end       arm far linger     arm far linger     -               -
//  far linger over (ssh open)     KILL far group, TERM ssh, arm grace   -               -
//
// --keep-children: "program exited" goes straight to "no child left".
enum class Phase {
  starting, // the program is not spawned yet
  running,  // the program lives
  stopping, // the program lives and is being ended (timeout, output limit): grace armed
  draining, // the program has exited: its leftovers are ended and the relays drained
  final,    // the final state is written
};

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

nlohmann::json rusage_json(const rusage& ru) {
  return {{"utime", seconds(ru.ru_utime)},
          {"stime", seconds(ru.ru_stime)},
          {"maxrss_kib", ru.ru_maxrss},
          {"minflt", ru.ru_minflt},
          {"majflt", ru.ru_majflt},
          {"inblock", ru.ru_inblock},
          {"oublock", ru.ru_oublock},
          {"nvcsw", ru.ru_nvcsw},
          {"nivcsw", ru.ru_nivcsw}};
}

// One instance per process: members are ordered by the run's lifecycle for reading, not
// packed for size.
class Supervisor { // NOLINT(clang-analyzer-optin.performance.Padding)
public:
  // `options` outlives the Supervisor (supervise()'s caller holds it): not copied, so that
  // its strings and paths are not held twice for the run's life.
  // `resume`, if given, outlives the Supervisor too: the run is taken over from a hold
  // image (hand_off.hpp) instead of started.
  Supervisor(const SupervisorOptions& options,
             std::shared_ptr<spdlog::logger> logger,
             const ResumePoint* resume = nullptr)
      : m_options(options), m_resume(resume), m_log(std::move(logger)),
        m_caller_wake(options.caller_wake_fd),
        m_run(options.run_dir, options.run_dir.filename().string()), m_leftovers(m_log),
        m_remote(cmdbuild::Target{}, options.nonce, m_log) {
    // It arrives without close-on-exec (dup3'd onto its number): nothing exec'd may keep the
    // caller asleep.
    if (m_caller_wake.valid()) {
      (void)::fcntl(m_caller_wake.get(), F_SETFD, FD_CLOEXEC);
    }
  }
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  Supervisor(Supervisor&&) = delete;
  Supervisor& operator=(Supervisor&&) = delete;
  ~Supervisor() = default;

  int run();

private:
  bool program_alive() const { return m_phase == Phase::running || m_phase == Phase::stopping; }
  bool relays_open() const {
    return (m_relays[0] && m_relays[0]->open()) || (m_relays[1] && m_relays[1]->open());
  }

  std::optional<nlohmann::json> start_run();
  // Lets an attached caller that sleeps on m_caller_wake go on (its attach set-up, its wait
  // for our final state): from here it no longer competes with our start for the CPU.
  void wake_caller() { m_caller_wake = spool::Fd(); }
  void take_title();
  void init_loop();
  void close_loop();
  void start_program();
  void watch_program();
  std::optional<nlohmann::json> adopt_held_run();
  void resume_program();
  void arm_settle_timer();
  void run_loop();
  bool may_hand_off() const;
  bool state_is_written() const;
  void try_hand_off();
  void hand_off_blocked();
  void record_spawn_failure(const std::system_error& error);
  void reap();
  void on_program_exit(int status, const rusage& ru);
  void end_leftovers(int signum);
  void begin_stopping(const std::string& why);
  void finalize();
  void write_failed(const std::string& error, int exit_code);
  void record_signal_sent(int signum, const std::string& why);
  void signal_program(int signum, const std::string& why);
  void note_markers();
  void maybe_finish();
  void on_output_limit(const std::string& stream);
  void arm_grace_timer();

  static void on_signal(uv_signal_t* handle, int signum);
  static void on_settle(uv_timer_t* handle);
  static void on_timeout(uv_timer_t* handle);
  static void on_kill_after(uv_timer_t* handle);
  static void on_remote_linger(uv_timer_t* handle);

  template <typename Fn> void guarded(Fn&& fn) noexcept {
    try {
      fn();
    } catch (const std::exception&) {
      m_fatal = std::current_exception();
      uv_stop(&m_loop);
    }
  }

  const SupervisorOptions& m_options;
  const ResumePoint* m_resume;
  std::shared_ptr<spdlog::logger> m_log;
  // SupervisorOptions::caller_wake_fd: the attached caller sleeps until this closes (wake_caller).
  spool::Fd m_caller_wake;
  spool::RunDir m_run;
  // Blocks the state writes would free, given back once the run is let go: on some file
  // systems each free waits for the device (spool/release_later.hpp).
  spool::ReleaseLater m_release_later;
  spool::FileLock m_lock;
  GateResult m_gate;   // --lock/--slots held for the program's life (gate.hpp)
  HoldImages m_images; // for the hand-off; invalid for runs that never hand off
  std::optional<std::int64_t> m_deadline_ns; // the --timeout's end (CLOCK_MONOTONIC)
  bool m_hand_off_due = false;               // the settle timer stopped the loop for it
  RunState m_state;
  spool::Fd m_stdout;
  spool::Fd m_stderr;

  Phase m_phase = Phase::starting;
  pid_t m_pid = -1;
  // Facts for decide_outcome(), gathered as the run goes.
  int m_wait_status = 0;
  rusage m_rusage{};
  bool m_timed_out = false;
  bool m_output_limit_stop = false;
  bool m_no_children = false; // nothing of the run is left that could write to the spool
  // A failure inside a loop callback (nothing may throw across libuv), parked with its errno
  // and rethrown by run() once uv_run returns.
  std::exception_ptr m_fatal;

  LeftoverReaper m_leftovers;
  RemoteSession m_remote;
  std::unique_ptr<OutputRelay> m_relays[2]; // stdout, stderr when they go through a pipe
  spool::Fd m_relay_pipes[2]; // their read ends, from the spawn until the relays take them
  bool m_remote_recorded = false;
  bool m_linger_timer_started = false;

  bool m_titled = false;     // take_title() done
  bool m_loop_ready = false; // init_loop() done: the handles below exist
  uv_loop_t m_loop{};
  uv_signal_t m_sigchld{};
  uv_signal_t m_sigterm{};
  uv_signal_t m_sigint{};
  uv_timer_t m_timeout_timer{};
  uv_timer_t m_kill_timer{};
  uv_timer_t m_linger_timer{};
  uv_timer_t m_settle_timer{}; // the program has lived k_settle_ms: hand off, or give back pages
};

void Supervisor::record_signal_sent(int signum, const std::string& why) {
  m_state.extra["signals_sent"].push_back(
      {{"signal", signum},
       {"name", signal_name(signum)},
       {"reason", why},
       {"time", spool::format_utc(std::chrono::system_clock::now())}});
}

void Supervisor::write_failed(const std::string& error, int exit_code) {
  m_state.state = RunStatus::failed;
  m_state.error = error;
  m_state.exit_code = exit_code;
  m_state.end_time = spool::format_utc(std::chrono::system_clock::now());
  if (m_stdout.valid()) {
    m_state.stdout_bytes = spool::file_size(m_stdout.get(), "stdout");
    m_state.stderr_bytes = spool::file_size(m_stderr.get(), "stderr");
  }
  m_run.write_state(m_state, &m_release_later);
  m_phase = Phase::final;
  m_log->error("run failed: {}", error);
}

void Supervisor::record_spawn_failure(const std::system_error& error) {
  int code = error.code().value();
  const std::string& program = m_options.argv.front();
  if (code == ENOENT || code == ENOTDIR) {
    write_failed("program not found: " + program, spool::k_exit_not_found);
  } else if (code == EACCES || code == ENOEXEC || code == EISDIR || code == EPERM || code == ETXTBSY
             || code == ELIBBAD) {
    write_failed("program not executable: " + program + ": " + std::strerror(code),
                 spool::k_exit_not_executable);
  } else {
    write_failed(std::string("cannot start ") + program + ": " + std::strerror(code),
                 spool::k_exit_chaperone_failed);
  }
}

void Supervisor::start_program() {
  m_stdout = spool::open_or_throw(m_run.file(spool::k_stdout_file), O_WRONLY | O_APPEND);
  m_stderr = spool::open_or_throw(m_run.file(spool::k_stderr_file), O_WRONLY | O_APPEND);
  spool::Fd stdin_fd;
  try {
    stdin_fd = spool::open_or_throw(m_options.stdin_path, O_RDONLY);
  } catch (const std::system_error& e) {
    write_failed(std::string("stdin: ") + e.what(), spool::k_exit_chaperone_failed);
    return;
  }
  // The directory is opened here, not chdir'ed to in the child: a bad cwd is then told apart
  // from a missing program (both would be ENOENT from posix_spawn).
  std::string cwd = m_options.cwd.empty() ? "/" : m_options.cwd;
  spool::Fd cwd_fd;
  try {
    // O_PATH, not O_RDONLY: a search-only directory (0711: enter, not list) is a fine cwd,
    // as it is for `cd`. The search permission fchdir() will need is checked here, so that a
    // refusal names the directory instead of looking like an unexecutable program.
    cwd_fd = spool::open_or_throw(cwd, O_PATH | O_DIRECTORY);
    if (::faccessat(cwd_fd.get(), "", X_OK, AT_EMPTY_PATH | AT_EACCESS) != 0) {
      spool::throw_errno("chdir " + cwd);
    }
  } catch (const std::system_error& e) {
    write_failed(std::string("cannot use working directory: ") + e.what(),
                 spool::k_exit_chaperone_failed);
    return;
  }

  SpawnRequest request;
  request.argv = m_options.argv;
  request.stdin_fd = stdin_fd.get();
  request.stdout_fd = m_stdout.get();
  request.stderr_fd = m_stderr.get();
  // Normally the program (or ssh) writes straight into the spool files: no copy at all.
  // A stream goes through a pipe and a relay only when something must happen to its bytes:
  // the far side's status markers ride on stderr in remote runs and are stripped, and
  // --max-output drops what is past the limit.
  bool limited = m_options.max_output > 0;
  spool::Fd pipe_read[2];
  spool::Fd pipe_write[2];
  for (int stream = 0; stream < 2; ++stream) {
    bool needs_relay = limited || (stream == 1 && !m_options.nonce.empty());
    if (!needs_relay) {
      continue;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      spool::throw_errno("pipe2");
    }
    pipe_read[stream].reset(fds[0]);
    pipe_write[stream].reset(fds[1]);
    // Only our end is non-blocking: the O_NONBLOCK flag lives in the open file description,
    // and the program must get a normal, blocking stdout/stderr.
    if (::fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
      spool::throw_errno("fcntl O_NONBLOCK output pipe");
    }
    (stream == 0 ? request.stdout_fd : request.stderr_fd) = fds[1];
  }
  request.cwd_fd = cwd_fd.get();
  request.new_process_group = true;
  // If we are SIGKILLed the program goes with us rather than run on unrecorded; readers
  // then find the run `lost` and end what is left of its group (RunDir).
  request.parent_death_signal = SIGKILL;
  m_state.start_time = spool::format_utc(std::chrono::system_clock::now());
  // Recorded between fork and exec: if we are killed at any moment after this, a reader
  // knows which group to end.
  request.before_exec = [this](pid_t pid) {
    m_state.state = RunStatus::running;
    m_state.pid = pid;
    m_state.pgid = pid;
    m_state.pid_start_ticks = spool::process_start_ticks(pid);
    m_run.write_state(m_state, &m_release_later);
  };
  // The launch leaves spec.json and the spool root's entry for the run without an fsync
  // (they would delay every `run -d`); a final state may not be durable without them. They
  // are made durable here, while the program's execve runs and we have nothing else to do,
  // so that the final state syncs only its own file and the run dir, one after the other:
  // done at the end, they took a helper thread each for two fsyncs at a time (two clones
  // and ~150 us of CPU per run, docs/bench/LAUNCH-2026-12-04.md). A failure here leaves
  // them to the final state, as before.
  request.after_release = [this] {
    wake_caller(); // our fsyncs leave it the CPU
    (void)m_run.make_launch_durable();
  };
  try {
    m_pid = spawn_process(request);
  } catch (const std::system_error& e) {
    m_log->info("spawn failed: {}", e.what());
    m_state.pid.reset();
    m_state.pgid.reset();
    m_state.pid_start_ticks.reset();
    record_spawn_failure(e);
    return;
  }
  for (int stream = 0; stream < 2; ++stream) {
    pipe_write[stream].reset();
    m_relay_pipes[stream] = std::move(pipe_read[stream]);
  }
}

// The rest of the start, once the loop exists: the relays, the timers, the phase.
void Supervisor::watch_program() {
  bool limited = m_options.max_output > 0;
  for (int stream = 0; stream < 2; ++stream) {
    if (!m_relay_pipes[stream].valid()) {
      continue;
    }
    OutputRelayCallbacks callbacks;
    callbacks.on_progress = [this] { note_markers(); };
    callbacks.on_eof = [this] { maybe_finish(); };
    callbacks.on_error = [this](std::exception_ptr error) {
      m_fatal = std::move(error);
      uv_stop(&m_loop);
    };
    callbacks.on_limit = [this, stream] { on_output_limit(stream == 0 ? "stdout" : "stderr"); };
    m_relays[stream] = std::make_unique<OutputRelay>(
        &m_loop,
        std::move(m_relay_pipes[stream]),
        stream == 0 ? m_stdout.get() : m_stderr.get(),
        stream == 1 ? m_options.nonce : std::string(),
        cmdbuild::before_first_marker(m_remote.target().mode),
        limited ? m_options.max_output : std::numeric_limits<std::uint64_t>::max(),
        std::move(callbacks));
  }
  m_remote.attach_markers(m_relays[1] ? m_relays[1]->markers() : nullptr);
  m_phase = Phase::running;
  m_log->info("started pid={} argv0={}", m_pid, m_options.argv.front());
  arm_settle_timer();

  if (m_options.timeout) {
    m_deadline_ns = monotonic_ns() + std::chrono::nanoseconds(*m_options.timeout).count();
    uv_timer_start(
        &m_timeout_timer, on_timeout, static_cast<uint64_t>(m_options.timeout->count()), 0);
  }
}

void Supervisor::arm_settle_timer() {
  // One wake-up per run (per resumption), and none once it is idle; unreferenced, so it never
  // keeps the loop alive.
  uv_timer_start(&m_settle_timer, on_settle, k_settle_ms, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&m_settle_timer));
}

std::optional<nlohmann::json> Supervisor::adopt_held_run() {
  // Ours again, and close-on-exec again: the program's children must not inherit them.
  auto adopt = [](int fd) {
    spool::Fd owned{fd};
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      spool::throw_errno("fcntl resumed fd " + std::to_string(fd));
    }
    return owned;
  };
  m_images.supervisor = adopt(m_resume->supervisor_fd);
  m_images.hold = adopt(m_resume->hold_fd);
  for (int fd : m_resume->held_fds) {
    m_gate.held.push_back(adopt(fd));
  }
  m_release_later.restore(m_resume->release, m_run.path());
  m_deadline_ns = m_resume->deadline_ns;
  // Everything the supervisor knew is in state.json: the hand-off waits until it is.
  m_state = m_run.read_state();
  nlohmann::json spec = m_run.read_spec();
  m_remote = RemoteSession(target_from_json(spec.at("target")), m_options.nonce, m_log);
  return on_exit_spec(spec);
}

void Supervisor::resume_program() {
  m_stdout = spool::open_or_throw(m_run.file(spool::k_stdout_file), O_WRONLY | O_APPEND);
  m_stderr = spool::open_or_throw(m_run.file(spool::k_stderr_file), O_WRONLY | O_APPEND);
  if (!m_state.pid || *m_state.pid <= 1) {
    throw std::runtime_error("resume: state.json has no program pid");
  }
  m_pid = *m_state.pid;
  m_phase = Phase::running;
  m_log->info("resumed pid={}", m_pid);
  arm_settle_timer();
  if (m_deadline_ns) {
    // Rounded up: a timer that fires early would find the run not yet due.
    std::int64_t left = std::max<std::int64_t>(0, *m_deadline_ns - monotonic_ns());
    uv_timer_start(
        &m_timeout_timer, on_timeout, static_cast<uint64_t>((left + 999'999) / 1'000'000), 0);
  }
  // Only now, with every handle in place: a signal that came while we were held is still
  // pending and is handled as it would have been (a SIGTERM forwarded and recorded).
  block_loop_signals(false);
  reap(); // SIGCHLD coalesces: look anyway
}

bool Supervisor::may_hand_off() const {
  // A simple steady state only: a local program writing straight into the spool files (no
  // relay, no far side), alive and not being ended.
  return m_images.valid() && m_options.nonce.empty() && m_options.max_output == 0
         && !m_remote.via_ssh() && m_phase == Phase::running && !m_fatal && !m_relays[0]
         && !m_relays[1] && !m_linger_timer_started;
}

bool Supervisor::state_is_written() const {
  // What the resumed supervisor will know is what state.json says: a signal recorded since the
  // last write (signals_sent) would be lost. Compared rather than tracked, so that no future
  // field can slip through.
  try {
    return m_run.read_state().to_json() == m_state.to_json();
  } catch (const std::exception&) {
    return false;
  }
}

void Supervisor::on_settle(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (self->may_hand_off()) {
      // Not from inside a callback: the exec happens in run_loop(), with the loop stopped.
      self->m_hand_off_due = true;
      uv_stop(&self->m_loop);
    } else {
      release_startup_pages();
    }
  });
}

void Supervisor::run_loop() {
  while (m_phase != Phase::final && !m_fatal) {
    uv_run(&m_loop, UV_RUN_DEFAULT);
    if (!m_hand_off_due) {
      return;
    }
    m_hand_off_due = false;
    try_hand_off();
  }
}

void Supervisor::try_hand_off() {
  block_loop_signals(true);
  try {
    hand_off_blocked();
  } catch (...) {
    block_loop_signals(false); // on-exit's shell must not start with them blocked
    throw;
  }
  // Still here: no hand-off. The pages start-up left are given back as before it.
  block_loop_signals(false);
  release_startup_pages();
}

void Supervisor::hand_off_blocked() {
  // A signal caught just before the block may still wait in libuv's pipe, a timer may be due:
  // one turn of the loop, without waiting, handles them with nothing new coming in.
  uv_run(&m_loop, UV_RUN_NOWAIT);
  if (!may_hand_off() || !state_is_written()) {
    m_log->debug("no hand-off: the run moved on, or state.json is behind");
    return;
  }
  ResumePoint point;
  point.supervisor_fd = m_images.supervisor.get();
  point.hold_fd = m_images.hold.get();
  HandOff hand_off;
  hand_off.keep_fds.push_back(m_lock.fd());
  for (const spool::Fd& fd : m_gate.held) {
    point.held_fds.push_back(fd.get());
    hand_off.keep_fds.push_back(fd.get());
  }
  point.deadline_ns = m_deadline_ns;
  point.release = m_release_later.position();
  hand_off.program_pgid = m_pid;
  hand_off.log = m_run.file(spool::k_log_file);
  hand_off.deadline_ns = m_deadline_ns;
  // argv[0] as we were started (the path the front end used, also when it forked us
  // without exec); RUN_DIR stays argv[1].
  std::vector<std::string> args = supervisor_args(m_options);
  std::vector<std::string> resume = resume_args(point);
  hand_off.supervisor_argv.emplace_back(m_options.in_image_binary.empty()
                                            ? std::string(program_invocation_name)
                                            : m_options.in_image_binary);
  hand_off.supervisor_argv.push_back(args.front());
  hand_off.supervisor_argv.insert(hand_off.supervisor_argv.end(), resume.begin(), resume.end());
  hand_off.supervisor_argv.insert(hand_off.supervisor_argv.end(), args.begin() + 1, args.end());
  m_log->info("holding: exec chaperone-hold until a signal{}",
              m_deadline_ns ? " or the timeout" : "");
  std::string error = exec_hold(m_images, hand_off);
  m_log->warn("hand-off failed, supervising on: {}", error);
}

void Supervisor::arm_grace_timer() {
  uv_timer_start(
      &m_kill_timer, on_kill_after, static_cast<uint64_t>(m_options.kill_after.count()), 0);
}

void Supervisor::end_leftovers(int signum) {
  m_leftovers.signal_all(signum, m_pid, [this](pid_t pid) { return m_remote.is_helper(pid); });
}

void Supervisor::on_program_exit(int status, const rusage& ru) {
  Phase was = m_phase;
  m_phase = Phase::draining;
  m_wait_status = status;
  m_rusage = ru;
  m_log->info("program pid={} ended: {}",
              m_pid,
              WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                : signal_name(WTERMSIG(status)));
  uv_timer_stop(&m_timeout_timer);
  if (m_options.keep_children) {
    m_no_children = true;
    maybe_finish();
    return;
  }
  if (was == Phase::running) {
    m_leftovers.escalate_to(SIGTERM);
    arm_grace_timer();
  }
}

void Supervisor::reap() {
  for (;;) {
    int status = 0;
    rusage ru{};
    pid_t pid = ::wait4(-1, &status, WNOHANG, &ru);
    if (pid < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != ECHILD) {
        spool::throw_errno("wait4");
      }
      // No children left at all: nothing can write to the spool files any more.
      if (m_phase == Phase::draining) {
        m_no_children = true;
        maybe_finish();
      }
      return;
    }
    if (pid == 0) {
      break; // children remain, none has exited
    }
    if (m_remote.reaped(pid)) {
      m_log->info("remote kill helper pid={} ended with status {}", pid, status);
      continue;
    }
    if (pid == m_pid) {
      on_program_exit(status, ru);
      if (m_options.keep_children) {
        return; // leftovers are the user's to keep
      }
    } else {
      m_log->debug("reaped leftover pid={}", pid);
    }
  }
  // While ssh itself still runs, the far side is ended by remote kills (signal_program);
  // ending our local leftovers now would kill ssh and strand the far program.
  bool ending = m_phase == Phase::draining || (m_phase == Phase::stopping && !m_remote.via_ssh());
  if (ending && !m_options.keep_children) {
    end_leftovers(m_leftovers.level());
  }
}

void Supervisor::begin_stopping(const std::string& why) {
  m_phase = Phase::stopping;
  signal_program(SIGTERM, why);
  m_leftovers.escalate_to(SIGTERM);
  if (!m_remote.via_ssh()) {
    end_leftovers(SIGTERM);
  }
  arm_grace_timer();
}

void Supervisor::finalize() {
  if (m_phase == Phase::final) {
    return;
  }
  m_state.end_time = spool::format_utc(std::chrono::system_clock::now());
  m_state.stdout_bytes = spool::file_size(m_stdout.get(), "stdout");
  m_state.stderr_bytes = spool::file_size(m_stderr.get(), "stderr");
  m_state.rusage = rusage_json(m_rusage);

  OutcomeFacts facts;
  facts.wait_status = m_wait_status;
  facts.via_ssh = m_remote.via_ssh();
  facts.far = m_remote.report();
  facts.last_stderr_line = m_relays[1] ? m_relays[1]->last_line() : std::string();
  facts.cwd = m_state.program.value("cwd", std::string());
  facts.host = m_remote.target().host;
  if (m_timed_out) {
    facts.timed_out_after = *m_options.timeout;
  }
  if (m_output_limit_stop) {
    facts.stopped_at_output_limit = m_options.max_output;
  }
  Outcome outcome = decide_outcome(facts);
  m_state.state = outcome.state;
  m_state.exit_code = outcome.exit_code;
  m_state.return_code = outcome.return_code;
  m_state.signal = outcome.signal;
  if (outcome.error) {
    m_state.error = outcome.error;
  }
  if (outcome.core_dumped) {
    m_state.extra["core_dumped"] = true;
  }
  if (outcome.ssh_exit_status) {
    m_state.extra["ssh_exit_status"] = *outcome.ssh_exit_status;
  }
  const cmdbuild::MarkerFilter* far = m_remote.markers();
  if (outcome.error && outcome.error->rfind("connection lost", 0) == 0 && far != nullptr
      && far->pgid()) {
    // Without a tty nothing tells the far program that the link is gone: end its group over
    // a new connection rather than leave an orphan nobody can reach.
    FarGroupEnd end = end_far_group(
        m_remote.target(), *far->pgid(), m_options.nonce, m_options.kill_after, m_log);
    m_state.extra["far_group"] = end.to_json();
    m_state.extra["far_group_ended"] = end.ended;
  }
  for (int stream = 0; stream < 2; ++stream) {
    if (m_relays[stream] && m_relays[stream]->dropped() > 0) {
      m_state.extra["output_limit"][stream == 0 ? "stdout_dropped" : "stderr_dropped"] =
          m_relays[stream]->dropped();
    }
  }
  m_run.write_state(m_state, &m_release_later);
  m_phase = Phase::final;
  m_log->info("final state {} exit_code={} stdout={} stderr={}",
              spool::to_string(m_state.state),
              m_state.cli_exit_code(),
              m_state.stdout_bytes,
              m_state.stderr_bytes);
}

void Supervisor::on_output_limit(const std::string& stream) {
  m_log->warn("{} passed --max-output {} bytes", stream, m_options.max_output);
  m_state.extra["output_limit"] = {{"max_bytes", m_options.max_output},
                                   {"exceeded", stream},
                                   {"action", m_options.stop_on_max_output ? "stop" : "drop"}};
  m_run.write_state(m_state, &m_release_later);
  if (m_options.stop_on_max_output && m_phase == Phase::running) {
    m_output_limit_stop = true;
    begin_stopping("output limit");
  }
}

void Supervisor::maybe_finish() {
  if (m_phase == Phase::final || !m_no_children || relays_open()) {
    return;
  }
  finalize();
  uv_stop(&m_loop);
}

void Supervisor::note_markers() {
  const cmdbuild::MarkerFilter* far = m_remote.markers();
  if (far == nullptr) {
    return;
  }
  if (far->finished() && m_remote.via_ssh() && program_alive() && !m_linger_timer_started) {
    // The far program has ended, but ssh stays while anything there still holds its
    // stdout/stderr (a background child). Give it the grace period, then end what is left
    // of the far group: no orphans there either.
    m_linger_timer_started = true;
    uv_timer_start(
        &m_linger_timer, on_remote_linger, static_cast<uint64_t>(m_options.kill_after.count()), 0);
  }
  if (m_remote_recorded || !far->pid()) {
    return;
  }
  m_remote_recorded = true;
  m_state.extra["remote"] = {
      {"pid", *far->pid()},
      {"pgid", far->pgid() ? nlohmann::json(*far->pgid()) : nlohmann::json(nullptr)},
      {"host", m_remote.target().host}};
  m_state.extra["status_nonce"] = m_options.nonce;
  m_run.write_state(m_state, &m_release_later);
  m_log->info("far side: pid={} pgid={}", *far->pid(), far->pgid().value_or(-1));
}

void Supervisor::on_remote_linger(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (!self->program_alive()) {
      return;
    }
    self->m_log->info("far program ended {} ms ago but ssh is still open: ending the far group",
                      self->m_options.kill_after.count());
    self->record_signal_sent(SIGKILL, "far leftovers");
    // Without the nonce guard: the wrapper that guard checks for is gone. The pgid cannot
    // name a stranger while the leftovers keep that group alive, which is why ssh is open.
    self->m_remote.send_far_signal(SIGKILL, false);
    ::kill(-self->m_pid, SIGTERM);
    self->arm_grace_timer();
  });
}

void Supervisor::signal_program(int signum, const std::string& why) {
  record_signal_sent(signum, why);
  if (m_remote.far_group_reachable()) {
    // Killing the local ssh client would leave the far program running (no tty, no
    // SIGHUP): the signal has to travel to the far process group itself.
    try {
      m_remote.send_far_signal(signum);
    } catch (const std::exception& e) {
      m_log->error("remote kill: {}", e.what());
    }
    if (signum != SIGKILL) {
      return;
    }
  }
  m_log->info("sending {} to group {}", signal_name(signum), m_pid);
  ::kill(-m_pid, signum);
}

void Supervisor::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (signum == SIGCHLD) {
      self->reap();
      return;
    }
    // SIGTERM / SIGINT: passed on to the program's group; its exit ends the run as usual.
    if (self->m_pid > 0 && self->program_alive()) {
      self->signal_program(signum, "forwarded");
    }
  });
}

void Supervisor::on_timeout(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (self->m_phase != Phase::running) {
      return;
    }
    self->m_log->info(
        "timeout after {} ms: ending group {}", self->m_options.timeout->count(), self->m_pid);
    self->m_timed_out = true;
    self->begin_stopping("timeout");
  });
}

void Supervisor::on_kill_after(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    self->m_log->info("grace of {} ms over: SIGKILL to what is left",
                      self->m_options.kill_after.count());
    if (self->program_alive()) {
      self->signal_program(SIGKILL, "kill-after");
    } else {
      self->record_signal_sent(SIGKILL, "leftovers");
    }
    self->m_leftovers.escalate_to(SIGKILL);
    self->end_leftovers(SIGKILL);
  });
}

std::optional<nlohmann::json> Supervisor::start_run() {
  // At start, for the binary we run now (hand_off.hpp); only runs that may hand off.
  if (m_options.nonce.empty() && m_options.max_output == 0) {
    m_images = open_hold_images(m_options.in_image_binary);
  }
  nlohmann::json spec;
  if (m_options.written) {
    m_state = m_options.written->state;
    spec = m_options.written->spec;
  } else {
    m_state = m_run.read_state();
    spec = m_run.read_spec();
  }
  m_remote = RemoteSession(target_from_json(spec.at("target")), m_options.nonce, m_log);
  m_state.boot_id = spool::boot_id();
  m_state.supervisor_pid = ::getpid();
  m_state.supervisor_start_ticks = spool::process_start_ticks(::getpid());
  // Before anything of libuv: the gate waits with its own signalfd and inotify. A run that
  // may wait there shows its title while it does.
  if (gate_may_wait(spec)) {
    wake_caller(); // it follows the wait as it follows the run
    take_title();
  }
  m_gate = pass_gate(m_run, spec, m_state, m_log);
  if (m_gate.skipped) {
    m_log->info("skipped: {}", *m_gate.skipped);
    m_state.state = RunStatus::skipped;
    m_state.error = *m_gate.skipped;
    m_state.exit_code = spool::k_exit_skipped;
    m_state.end_time = spool::format_utc(std::chrono::system_clock::now());
    m_run.write_state(m_state, &m_release_later);
    run_on_exit(m_run, spec, m_log);
    return std::nullopt;
  }
  // Past the gate only on_exit reads the spec, at the run's end: the rest of the tree would
  // stay in the heap for the run's life (its chunks now serve the spawn's allocations).
  spec = on_exit_spec(spec);

  // Orphans of the program (double-forked daemons) are reparented to us, so we can end and
  // reap them; without this they would go to init and escape the run. An execve (the
  // hand-off) keeps the setting.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    m_log->warn("prctl PR_SET_CHILD_SUBREAPER: {}", std::strerror(errno));
  }
  return spec;
}

void Supervisor::take_title() {
  if (!m_options.title || m_titled) {
    return;
  }
  m_titled = true;
  std::string error = set_process_title(m_options.title->argv, m_options.title->env);
  if (!error.empty()) {
    m_log->warn("process title: {}", error);
  }
}

void Supervisor::init_loop() {
  if (int rc = uv_loop_init(&m_loop); rc != 0) {
    spool::throw_error_code(-rc, "uv_loop_init");
  }
  const std::pair<uv_signal_t*, int> signals[] = {
      {&m_sigchld, SIGCHLD}, {&m_sigterm, SIGTERM}, {&m_sigint, SIGINT}};
  for (auto [handle, signum] : signals) {
    uv_signal_init(&m_loop, handle);
    handle->data = this;
  }
  for (uv_timer_t* timer : {&m_timeout_timer, &m_kill_timer, &m_linger_timer, &m_settle_timer}) {
    uv_timer_init(&m_loop, timer);
    timer->data = this;
  }
  m_loop_ready = true; // every handle exists: close_loop() may close them all
  for (auto [handle, signum] : signals) {
    if (int rc = uv_signal_start(handle, on_signal, signum); rc != 0) {
      spool::throw_error_code(-rc, "uv_signal_start");
    }
  }
}

// Closes the handles and the loop, if init_loop() got that far.
void Supervisor::close_loop() {
  if (!m_loop_ready) {
    return; // failed before the loop existed (the spawn's setup threw)
  }
  for (auto& relay : m_relays) {
    if (relay) {
      relay->close_handle(); // the loop below completes the close; freed with us
    }
  }
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&m_sigchld),
                              reinterpret_cast<uv_handle_t*>(&m_sigterm),
                              reinterpret_cast<uv_handle_t*>(&m_sigint),
                              reinterpret_cast<uv_handle_t*>(&m_timeout_timer),
                              reinterpret_cast<uv_handle_t*>(&m_kill_timer),
                              reinterpret_cast<uv_handle_t*>(&m_linger_timer),
                              reinterpret_cast<uv_handle_t*>(&m_settle_timer)}) {
    uv_close(handle, nullptr);
  }
  uv_run(&m_loop, UV_RUN_DEFAULT);
  uv_loop_close(&m_loop);
}

int Supervisor::run() {
  m_lock = spool::FileLock::adopt(spool::Fd{m_options.lock_fd});
  // The lock fd arrives without close-on-exec (it had to cross our own exec). Inherited by
  // the program it would outlive us and hide our death from readers.
  if (::fcntl(m_lock.fd(), F_SETFD, FD_CLOEXEC) != 0) {
    spool::throw_errno("fcntl lock fd");
  }
  std::optional<nlohmann::json> spec = m_resume != nullptr ? adopt_held_run() : start_run();
  if (!spec) {
    return 0; // skipped at the gate: recorded
  }

  try {
    if (m_resume != nullptr) {
      init_loop();
      resume_program();
    } else {
      // A new run's program is started before the loop exists, and the supervisor takes its
      // title after it: both (~90 us: epoll, the signal pipe and three handlers; a read of
      // /proc/self/stat and two prctls) then overlap the program's exec instead of delaying
      // its start. Its signals wait, blocked, until their handles are in place: a SIGTERM
      // sent meanwhile is forwarded to the program then, an early SIGCHLD reaped.
      block_loop_signals(true);
      start_program();
      wake_caller(); // already, unless the start failed (recorded by now)
      init_loop();
      if (m_phase != Phase::final) {
        watch_program();
      }
      block_loop_signals(false);
      if (m_phase != Phase::final) {
        reap(); // it may have exited already
      }
      // A program that has ended already (`true`) has its final state written by now; the
      // title (~50 us) would only delay the let-go of a supervisor about to exit: `ps` shows
      // the front end's command line for that last millisecond, as between a fork and exec.
      if (m_phase != Phase::final) {
        take_title();
      }
    }
    run_loop();
    if (m_fatal) {
      std::rethrow_exception(m_fatal);
    }
  } catch (const std::exception& e) {
    m_log->error("supervisor error: {}", e.what());
    // `starting` with a pid: spawned, and the loop's setup failed before it was watched.
    if (m_pid > 0 && (program_alive() || m_phase == Phase::starting)) {
      ::kill(-m_pid, SIGKILL); // no orphans: a run we cannot record is not left running
    }
    if (m_phase != Phase::final) {
      try {
        write_failed(std::string("supervisor error: ") + e.what(), spool::k_exit_chaperone_failed);
      } catch (const std::exception& e2) {
        m_log->error("cannot record failure: {}", e2.what());
      }
    }
  }
  if (m_phase == Phase::final && !has_on_exit(*spec)) {
    // Nothing more goes into the run (the final state is durable, leftovers' linger is
    // over): the next step of a chain, and the `run`, `wait` or `gc` that waits for us to
    // let go, have it now, not after the loop's teardown and our exit.
    m_gate.held.clear();
    m_lock = spool::FileLock();
    m_release_later.release();
  }
  close_loop();
  // The next run of a chain may start now; the run's own lock stays ours until on-exit ends.
  m_gate.held.clear();
  m_release_later.release();
  if (m_phase == Phase::final) {
    run_on_exit(m_run, *spec, m_log);
  }
  return m_phase == Phase::final ? 0 : 1;
}

} // namespace

int supervise(const SupervisorOptions& options, const std::shared_ptr<spdlog::logger>& logger) {
  try {
    Supervisor supervisor(options, logger);
    return supervisor.run();
  } catch (const std::exception& e) {
    logger->error("supervisor cannot start: {}", e.what());
    return 1;
  }
}

int resume_supervision(const SupervisorOptions& options,
                       const ResumePoint& point,
                       const std::shared_ptr<spdlog::logger>& logger) {
  try {
    Supervisor supervisor(options, logger, &point);
    return supervisor.run();
  } catch (const std::exception& e) {
    // Our exit closes the run's lock and fires the program's PDEATHSIG: readers find the
    // run `lost`, as after a SIGKILL.
    logger->error("supervisor cannot resume: {}", e.what());
    return 1;
  }
}

} // namespace chaperone
