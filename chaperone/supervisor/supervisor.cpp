// chaperone/supervisor.cpp: spawns the program, reaps it and everything it leaves behind,
// and writes the run's state. One libuv loop; signals arrive as loop events.
#include "chaperone/supervisor/supervisor.hpp"

#include "chaperone/supervisor/output_relay.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "cmdbuild/command.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"
#include "spool/file_lock.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
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
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace chaperone {

namespace {

using spool::RunState;
using spool::RunStatus;

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

// Our direct children, from /proc/self/task/<tid>/children (we are single-threaded where
// it matters: libuv starts no threads for signals, timers or polls).
std::vector<pid_t> direct_children() {
  std::vector<pid_t> pids;
  std::string text;
  try {
    pid_t self = ::getpid();
    text = spool::read_file("/proc/" + std::to_string(self) + "/task/" + std::to_string(self)
                            + "/children");
  } catch (const std::system_error&) {
    return pids;
  }
  std::istringstream in(text);
  pid_t pid;
  while (in >> pid) {
    pids.push_back(pid);
  }
  return pids;
}

// One instance per process: members are ordered by the run's lifecycle for reading, not
// packed for size.
class Supervisor { // NOLINT(clang-analyzer-optin.performance.Padding)
public:
  Supervisor(const SupervisorOptions& options, std::shared_ptr<spdlog::logger> logger)
      : m_options(options), m_log(std::move(logger)),
        m_run(options.run_dir, options.run_dir.filename().string()) {}
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  Supervisor(Supervisor&&) = delete;
  Supervisor& operator=(Supervisor&&) = delete;
  ~Supervisor() = default;

  int run();

private:
  void start_program();
  void record_spawn_failure(const std::system_error& error);
  void reap();
  void end_leftovers(int signum);
  void finalize();
  void write_failed(const std::string& error, int exit_code);
  void record_signal_sent(int signum, const std::string& why);
  void signal_program(int signum, const std::string& why);
  void spawn_remote_kill(int signum, bool guarded_by_nonce = true);
  void note_markers();
  void maybe_finish();
  void finalize_remote();
  void on_output_limit(const std::string& stream);
  // The far side's status channel (remote runs), or nullptr.
  const cmdbuild::MarkerFilter* markers() const {
    return m_relays[1] ? m_relays[1]->markers() : nullptr;
  }
  bool relays_open() const {
    return (m_relays[0] && m_relays[0]->open()) || (m_relays[1] && m_relays[1]->open());
  }

  static void on_signal(uv_signal_t* handle, int signum);
  static void on_timeout(uv_timer_t* handle);
  static void on_kill_after(uv_timer_t* handle);
  static void on_remote_linger(uv_timer_t* handle);

  template <typename Fn> void guarded(Fn&& fn) noexcept {
    try {
      fn();
    } catch (const std::exception& e) {
      m_fatal = e.what();
      uv_stop(&m_loop);
    }
  }

  SupervisorOptions m_options;
  std::shared_ptr<spdlog::logger> m_log;
  spool::RunDir m_run;
  spool::FileLock m_lock;
  RunState m_state;
  spool::Fd m_stdout;
  spool::Fd m_stderr;

  pid_t m_pid = -1;
  bool m_program_exited = false;
  int m_wait_status = 0;
  rusage m_rusage{};
  bool m_timed_out = false;
  bool m_killing = false; // leftovers are being ended
  int m_leftover_signal = SIGTERM;
  int m_signaled_level = 0;
  std::set<pid_t> m_signaled; // pids (and -pgids) sent m_signaled_level already
  bool m_finalized = false;
  bool m_no_children = false; // wait4 said ECHILD after the program exited
  std::string m_fatal;

  cmdbuild::Target m_target;
  bool m_ssh = false;                       // the child is ssh; the program is on the far side
  std::unique_ptr<OutputRelay> m_relays[2]; // stdout, stderr when they go through a pipe
  std::set<pid_t> m_helpers;                // our remote-kill ssh processes (not leftovers)
  bool m_remote_recorded = false;
  bool m_output_limit_stop = false;

  uv_loop_t m_loop{};
  uv_signal_t m_sigchld{};
  uv_signal_t m_sigterm{};
  uv_signal_t m_sigint{};
  uv_timer_t m_timeout_timer{};
  uv_timer_t m_kill_timer{};
  uv_timer_t m_linger_timer{};
  bool m_linger_timer_started = false;
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
  m_run.write_state(m_state);
  m_finalized = true;
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
    m_run.write_state(m_state);
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
    if (!pipe_read[stream].valid()) {
      continue;
    }
    pipe_write[stream].reset();
    OutputRelayCallbacks callbacks;
    callbacks.on_progress = [this] { note_markers(); };
    callbacks.on_eof = [this] { maybe_finish(); };
    callbacks.on_error = [this](const std::string& error) {
      m_fatal = error;
      uv_stop(&m_loop);
    };
    callbacks.on_limit = [this, stream] { on_output_limit(stream == 0 ? "stdout" : "stderr"); };
    m_relays[stream] = std::make_unique<OutputRelay>(
        &m_loop,
        std::move(pipe_read[stream]),
        stream == 0 ? m_stdout.get() : m_stderr.get(),
        stream == 1 ? m_options.nonce : std::string(),
        limited ? m_options.max_output : std::numeric_limits<std::uint64_t>::max(),
        std::move(callbacks));
  }
  m_log->info("started pid={} argv0={}", m_pid, m_options.argv.front());

  if (m_options.timeout) {
    uv_timer_start(
        &m_timeout_timer, on_timeout, static_cast<uint64_t>(m_options.timeout->count()), 0);
  }
}

void Supervisor::end_leftovers(int signum) {
  // The program's group, plus every process that left the group but was reparented to us
  // (we are a child subreaper): daemons that setsid()'d, double-forked helpers.
  // Each process gets each signal level once: a program that traps TERM to clean up must
  // not see it again on every SIGCHLD.
  if (m_signaled_level != signum) {
    m_signaled_level = signum;
    m_signaled.clear();
  }
  if (m_pid > 0 && m_signaled.insert(-m_pid).second && ::kill(-m_pid, signum) == 0) {
    m_log->debug("sent {} to group {}", signal_name(signum), m_pid);
  }
  for (pid_t child : direct_children()) {
    if (m_helpers.count(child) != 0 || !m_signaled.insert(child).second) {
      continue;
    }
    ::kill(child, signum);
    pid_t group = ::getpgid(child);
    if (group == child) {
      ::kill(-child, signum);
    }
    m_log->debug("sent {} to leftover pid {}", signal_name(signum), child);
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
      if (m_program_exited) {
        m_no_children = true;
        maybe_finish();
      }
      return;
    }
    if (pid == 0) {
      break; // children remain, none has exited
    }
    if (m_helpers.erase(pid) != 0) {
      m_log->info("remote kill helper pid={} ended with status {}", pid, status);
      continue;
    }
    if (pid == m_pid) {
      m_program_exited = true;
      m_wait_status = status;
      m_rusage = ru;
      m_log->info("program pid={} ended: {}",
                  pid,
                  WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                    : signal_name(WTERMSIG(status)));
      uv_timer_stop(&m_timeout_timer);
      if (m_options.keep_children) {
        m_no_children = true;
        maybe_finish();
        return;
      }
      if (!m_killing) {
        m_killing = true;
        m_leftover_signal = SIGTERM;
        uv_timer_start(
            &m_kill_timer, on_kill_after, static_cast<uint64_t>(m_options.kill_after.count()), 0);
      }
    } else {
      m_log->debug("reaped leftover pid={}", pid);
    }
  }
  // While ssh itself still runs, the far side is ended by remote kills (signal_program);
  // ending our local leftovers now would kill ssh and strand the far program.
  if (m_killing && (!m_ssh || m_program_exited)) {
    end_leftovers(m_leftover_signal);
  }
}

void Supervisor::finalize() {
  if (m_finalized) {
    return;
  }
  m_state.end_time = spool::format_utc(std::chrono::system_clock::now());
  m_state.stdout_bytes = spool::file_size(m_stdout.get(), "stdout");
  m_state.stderr_bytes = spool::file_size(m_stderr.get(), "stderr");
  m_state.rusage = rusage_json(m_rusage);
  if (WIFEXITED(m_wait_status)) {
    m_state.return_code = WEXITSTATUS(m_wait_status);
    m_state.state = RunStatus::exited;
    m_state.exit_code = *m_state.return_code;
  } else if (WIFSIGNALED(m_wait_status)) {
    m_state.signal = WTERMSIG(m_wait_status);
    m_state.state = RunStatus::signaled;
    m_state.exit_code = 128 + *m_state.signal;
    if (WCOREDUMP(m_wait_status)) {
      m_state.extra["core_dumped"] = true;
    }
  }
  if (m_ssh) {
    finalize_remote();
  } else if (markers() != nullptr && markers()->cwd_error()) {
    // sudo mode: the wrapper could not enter the directory and did not run the program.
    m_state.state = RunStatus::failed;
    m_state.return_code.reset();
    m_state.error =
        "cd " + m_state.program.value("cwd", std::string()) + ": " + *markers()->cwd_error();
    m_state.exit_code = spool::k_exit_chaperone_failed;
  }
  for (int stream = 0; stream < 2; ++stream) {
    if (m_relays[stream] && m_relays[stream]->dropped() > 0) {
      m_state.extra["output_limit"][stream == 0 ? "stdout_dropped" : "stderr_dropped"] =
          m_relays[stream]->dropped();
    }
  }
  if (m_output_limit_stop && !m_timed_out) {
    m_state.state = RunStatus::failed;
    m_state.exit_code = spool::k_exit_chaperone_failed;
    m_state.error =
        "output limit of " + std::to_string(m_options.max_output) + " bytes exceeded; run stopped";
  }
  if (m_timed_out) {
    m_state.state = RunStatus::timed_out;
    m_state.exit_code = spool::k_exit_timed_out;
    m_state.error = "timed out after " + std::to_string(m_options.timeout->count()) + " ms";
  }
  m_run.write_state(m_state);
  m_finalized = true;
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
  m_run.write_state(m_state);
  if (m_options.stop_on_max_output && !m_program_exited && !m_output_limit_stop) {
    m_output_limit_stop = true;
    signal_program(SIGTERM, "output limit");
    uv_timer_start(
        &m_kill_timer, on_kill_after, static_cast<uint64_t>(m_options.kill_after.count()), 0);
  }
}

void Supervisor::maybe_finish() {
  if (m_finalized || !m_no_children || relays_open()) {
    return;
  }
  finalize();
  uv_stop(&m_loop);
}

void Supervisor::note_markers() {
  if (markers() != nullptr && markers()->finished() && m_ssh && !m_program_exited
      && !m_linger_timer_started) {
    // The far program has ended, but ssh stays while anything there still holds its
    // stdout/stderr (a background child). Give it the grace period, then end what is left
    // of the far group: no orphans there either.
    m_linger_timer_started = true;
    uv_timer_start(
        &m_linger_timer, on_remote_linger, static_cast<uint64_t>(m_options.kill_after.count()), 0);
  }
  if (m_remote_recorded || markers() == nullptr || !markers()->pid()) {
    return;
  }
  const cmdbuild::MarkerFilter& far = *markers();
  m_remote_recorded = true;
  m_state.extra["remote"] = {
      {"pid", *far.pid()},
      {"pgid", far.pgid() ? nlohmann::json(*far.pgid()) : nlohmann::json(nullptr)},
      {"host", m_target.host}};
  m_state.extra["status_nonce"] = m_options.nonce;
  m_run.write_state(m_state);
  m_log->info("far side: pid={} pgid={}", *far.pid(), far.pgid().value_or(-1));
}

void Supervisor::on_remote_linger(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (self->m_program_exited) {
      return;
    }
    self->m_log->info("far program ended {} ms ago but ssh is still open: ending the far group",
                      self->m_options.kill_after.count());
    self->record_signal_sent(SIGKILL, "far leftovers");
    // Without the nonce guard: the wrapper that guard checks for is gone. The pgid cannot
    // name a stranger while the leftovers keep that group alive, which is why ssh is open.
    self->spawn_remote_kill(SIGKILL, false);
    ::kill(-self->m_pid, SIGTERM);
    uv_timer_start(&self->m_kill_timer,
                   on_kill_after,
                   static_cast<uint64_t>(self->m_options.kill_after.count()),
                   0);
  });
}

void Supervisor::spawn_remote_kill(int signum, bool guarded_by_nonce) {
  const cmdbuild::MarkerFilter& far = *markers();
  SpawnRequest request;
  request.argv = cmdbuild::build_remote_kill(
      m_target, *far.pgid(), signum, guarded_by_nonce ? m_options.nonce : std::string());
  request.new_process_group = true;
  pid_t pid = spawn_process(request);
  m_helpers.insert(pid);
  m_log->info(
      "remote kill helper pid={} sends {} to far group {}", pid, signal_name(signum), *far.pgid());
}

void Supervisor::signal_program(int signum, const std::string& why) {
  record_signal_sent(signum, why);
  bool remote_known = m_ssh && markers() != nullptr && markers()->pgid() && !markers()->finished();
  if (remote_known) {
    // Killing the local ssh client would leave the far program running (no tty, no
    // SIGHUP): the signal has to travel to the far process group itself.
    try {
      spawn_remote_kill(signum);
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

void Supervisor::finalize_remote() {
  // ssh exits 255 for a connection failure, a remote `exit 255` and a remote signal alike;
  // the far side's markers are the only truth about the program.
  const cmdbuild::MarkerFilter* far = markers();
  int ssh_status =
      WIFEXITED(m_wait_status) ? WEXITSTATUS(m_wait_status) : 128 + WTERMSIG(m_wait_status);
  m_state.extra["ssh_exit_status"] = ssh_status;
  m_state.return_code.reset();
  m_state.signal.reset();
  // An exec failure is followed by "exit 127/126" from the wrapper: it is a failure to
  // start the program, recorded with its reason, not the program's own exit.
  if (far != nullptr && far->exit_code() && !far->exec_error()) {
    m_state.state = RunStatus::exited;
    m_state.return_code = *far->exit_code();
    m_state.exit_code = *far->exit_code();
    return;
  }
  if (far != nullptr && far->signal()) {
    m_state.state = RunStatus::signaled;
    m_state.signal = *far->signal();
    m_state.exit_code = 128 + *far->signal();
    if (far->core_dumped()) {
      m_state.extra["core_dumped"] = true;
    }
    return;
  }
  m_state.state = RunStatus::failed;
  std::string last = m_relays[1] ? m_relays[1]->last_line() : std::string();
  while (!last.empty() && (last.back() == '\r' || last.back() == ' ')) {
    last.pop_back();
  }
  // After the program started, the last stderr line is usually the program's own; quote it
  // only when it is ssh's complaint about the connection.
  bool from_ssh = last.rfind("ssh:", 0) == 0 || last.rfind("client_loop:", 0) == 0
                  || last.find("closed by remote host") != std::string::npos
                  || last.find("not responding") != std::string::npos
                  || last.find("Broken pipe") != std::string::npos;
  if (far != nullptr && far->cwd_error()) {
    m_state.error = "cd " + m_state.program.value("cwd", std::string()) + ": " + *far->cwd_error();
    m_state.exit_code = spool::k_exit_chaperone_failed;
  } else if (far != nullptr && far->exec_error()) {
    bool not_found = far->exit_code().value_or(ssh_status) == spool::k_exit_not_found;
    m_state.error = std::string(not_found ? "program not found" : "program not executable") + " on "
                    + m_target.host + ": " + *far->exec_error();
    m_state.exit_code = not_found ? spool::k_exit_not_found : spool::k_exit_not_executable;
  } else if (far != nullptr && far->wrapper_error()) {
    m_state.error = "far-side wrapper failed: " + *far->wrapper_error();
    m_state.exit_code = spool::k_exit_chaperone_failed;
  } else if (far != nullptr && far->pid()) {
    m_state.error = "connection lost"
                    + (from_ssh ? ": " + last : " (ssh exited " + std::to_string(ssh_status) + ")");
    m_state.exit_code = spool::k_exit_ssh_failed;
  } else {
    m_state.error = "ssh failed (exit " + std::to_string(ssh_status) + ")"
                    + (last.empty() ? std::string() : ": " + last);
    m_state.exit_code = spool::k_exit_ssh_failed;
  }
}

void Supervisor::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    if (signum == SIGCHLD) {
      self->reap();
      return;
    }
    // SIGTERM / SIGINT: passed on to the program's group; its exit ends the run as usual.
    if (self->m_pid > 0 && !self->m_program_exited) {
      self->signal_program(signum, "forwarded");
    }
  });
}

void Supervisor::on_timeout(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    self->m_log->info(
        "timeout after {} ms: ending group {}", self->m_options.timeout->count(), self->m_pid);
    self->m_timed_out = true;
    self->signal_program(SIGTERM, "timeout");
    self->m_killing = true;
    self->m_leftover_signal = SIGTERM;
    if (!self->m_ssh) {
      self->end_leftovers(SIGTERM);
    }
    uv_timer_start(&self->m_kill_timer,
                   on_kill_after,
                   static_cast<uint64_t>(self->m_options.kill_after.count()),
                   0);
  });
}

void Supervisor::on_kill_after(uv_timer_t* handle) {
  auto* self = static_cast<Supervisor*>(handle->data);
  self->guarded([&] {
    self->m_log->info("grace of {} ms over: SIGKILL to what is left",
                      self->m_options.kill_after.count());
    if (!self->m_program_exited) {
      self->signal_program(SIGKILL, "kill-after");
    } else {
      self->record_signal_sent(SIGKILL, "leftovers");
    }
    self->m_leftover_signal = SIGKILL;
    self->end_leftovers(SIGKILL);
  });
}

int Supervisor::run() {
  m_lock = spool::FileLock::adopt(spool::Fd{m_options.lock_fd});
  // The lock fd arrives without close-on-exec (it had to cross our own exec). Inherited by
  // the program it would outlive us and hide our death from readers.
  if (::fcntl(m_lock.fd(), F_SETFD, FD_CLOEXEC) != 0) {
    spool::throw_errno("fcntl lock fd");
  }
  m_state = m_run.read_state();
  m_target = target_from_json(m_run.read_spec().at("target"));
  m_ssh = cmdbuild::is_ssh_mode(m_target.mode);
  m_state.boot_id = spool::boot_id();
  m_state.supervisor_pid = ::getpid();
  m_state.supervisor_start_ticks = spool::process_start_ticks(::getpid());

  // Orphans of the program (double-forked daemons) are reparented to us, so we can end and
  // reap them; without this they would go to init and escape the run.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    m_log->warn("prctl PR_SET_CHILD_SUBREAPER: {}", std::strerror(errno));
  }

  if (int rc = uv_loop_init(&m_loop); rc != 0) {
    spool::throw_error_code(-rc, "uv_loop_init");
  }
  // Signal handles exist before the spawn, so an early SIGCHLD is not missed.
  for (auto [handle, signum] : {std::pair{&m_sigchld, SIGCHLD},
                                std::pair{&m_sigterm, SIGTERM},
                                std::pair{&m_sigint, SIGINT}}) {
    uv_signal_init(&m_loop, handle);
    handle->data = this;
    if (int rc = uv_signal_start(handle, on_signal, signum); rc != 0) {
      spool::throw_error_code(-rc, "uv_signal_start");
    }
  }
  uv_timer_init(&m_loop, &m_timeout_timer);
  m_timeout_timer.data = this;
  uv_timer_init(&m_loop, &m_kill_timer);
  m_kill_timer.data = this;
  uv_timer_init(&m_loop, &m_linger_timer);
  m_linger_timer.data = this;

  try {
    start_program();
    if (!m_finalized) {
      reap(); // it may have exited already
    }
    if (!m_finalized) {
      uv_run(&m_loop, UV_RUN_DEFAULT);
    }
    if (!m_fatal.empty()) {
      throw std::runtime_error(m_fatal);
    }
  } catch (const std::exception& e) {
    m_log->error("supervisor error: {}", e.what());
    if (m_pid > 0 && !m_program_exited) {
      ::kill(-m_pid, SIGKILL); // no orphans: a run we cannot record is not left running
    }
    if (!m_finalized) {
      try {
        write_failed(std::string("supervisor error: ") + e.what(), spool::k_exit_chaperone_failed);
      } catch (const std::exception& e2) {
        m_log->error("cannot record failure: {}", e2.what());
      }
    }
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
                              reinterpret_cast<uv_handle_t*>(&m_linger_timer)}) {
    uv_close(handle, nullptr);
  }
  uv_run(&m_loop, UV_RUN_DEFAULT);
  uv_loop_close(&m_loop);
  return m_finalized ? 0 : 1;
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

SupervisorOptions parse_supervisor_args(const std::vector<std::string>& args) {
  SupervisorOptions options;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> const std::string& {
    if (i + 1 >= args.size()) {
      throw std::invalid_argument(flag + " needs a value");
    }
    return args[++i];
  };
  auto number = [&](const std::string& flag) {
    const std::string& text = value(flag);
    try {
      size_t used = 0;
      long long n = std::stoll(text, &used);
      if (used != text.size() || n < 0) {
        throw std::invalid_argument("");
      }
      return n;
    } catch (const std::exception&) {
      throw std::invalid_argument(flag + " needs a non-negative number, not \"" + text + "\"");
    }
  };
  if (args.empty()) {
    throw std::invalid_argument("missing run directory");
  }
  options.run_dir = args[0];
  for (i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      options.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (arg == "--lock-fd") {
      options.lock_fd = static_cast<int>(number(arg));
    } else if (arg == "--cwd") {
      options.cwd = value(arg);
    } else if (arg == "--stdin") {
      options.stdin_path = value(arg);
    } else if (arg == "--nonce") {
      options.nonce = value(arg);
    } else if (arg == "--timeout-ms") {
      options.timeout = std::chrono::milliseconds(number(arg));
    } else if (arg == "--kill-after-ms") {
      options.kill_after = std::chrono::milliseconds(number(arg));
    } else if (arg == "--keep-children") {
      options.keep_children = true;
    } else if (arg == "--max-output") {
      options.max_output = static_cast<std::uint64_t>(number(arg));
    } else if (arg == "--stop-on-max-output") {
      options.stop_on_max_output = true;
    } else {
      throw std::invalid_argument("unknown supervisor argument \"" + arg + "\"");
    }
  }
  if (options.argv.empty()) {
    throw std::invalid_argument("missing program after --");
  }
  if (options.lock_fd < 0) {
    throw std::invalid_argument("missing --lock-fd");
  }
  return options;
}

std::vector<std::string> supervisor_args(const SupervisorOptions& options) {
  std::vector<std::string> args{
      options.run_dir.string(), "--lock-fd", std::to_string(options.lock_fd)};
  if (!options.cwd.empty()) {
    args.insert(args.end(), {"--cwd", options.cwd});
  }
  args.insert(args.end(), {"--stdin", options.stdin_path});
  if (!options.nonce.empty()) {
    args.insert(args.end(), {"--nonce", options.nonce});
  }
  if (options.timeout) {
    args.insert(args.end(), {"--timeout-ms", std::to_string(options.timeout->count())});
  }
  args.insert(args.end(), {"--kill-after-ms", std::to_string(options.kill_after.count())});
  if (options.keep_children) {
    args.emplace_back("--keep-children");
  }
  if (options.max_output > 0) {
    args.insert(args.end(), {"--max-output", std::to_string(options.max_output)});
    if (options.stop_on_max_output) {
      args.emplace_back("--stop-on-max-output");
    }
  }
  args.emplace_back("--");
  args.insert(args.end(), options.argv.begin(), options.argv.end());
  return args;
}

} // namespace chaperone
