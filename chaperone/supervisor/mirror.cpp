// chaperone/supervisor/mirror.cpp: follows a far run over ssh and mirrors it into the local
// spool. One libuv loop: the attach connection's pipes, SIGCHLD, the retry timer.
#include "chaperone/supervisor/mirror.hpp"

#include "chaperone/supervisor/far_master.hpp"
#include "chaperone/supervisor/far_setup.hpp"
#include "chaperone/supervisor/idle_pages.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "chaperone/supervisor/version.hpp"
#include "cmdbuild/far_chaperone.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"
#include "spool/file_lock.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/run_dir.hpp"

#include <spdlog/logger.h>
#include <uv.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

namespace chaperone {

namespace {

using spool::RunStatus;

constexpr std::uint64_t k_backoff_first_ms = 250;
constexpr std::uint64_t k_backoff_max_ms = 10'000;
// A far attach that keeps failing without ssh failing (the far run is gone, its spool was
// removed) ends the local run after this many tries in a row.
constexpr int k_max_far_errors = 5;
constexpr int k_setup_attempts = 4;
constexpr size_t k_err_tail = 4096;

std::string now_utc() {
  return spool::format_utc(std::chrono::system_clock::now());
}

std::string base64_decode(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    if (c == '+') {
      return 62;
    }
    if (c == '/') {
      return 63;
    }
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') {
      break;
    }
    int v = value(c);
    if (v < 0) {
      throw std::runtime_error("bad base64 in far output event");
    }
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\0', at);
    if (end == std::string::npos) {
      end = text.size();
    }
    parts.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

class Mirror;

// One pipe of the current attach connection, freed by its close callback (a new connection
// gets new handles while the old ones finish closing).
struct PipeWatch {
  uv_poll_t poll{};
  spool::Fd fd;
  Mirror* owner = nullptr;
  int stream = 0; // 0: the JSON events (stdout), 1: ssh's and the far side's stderr
  bool open = true;
};

class Mirror { // NOLINT(clang-analyzer-optin.performance.Padding)
public:
  Mirror(const SupervisorOptions& options, std::shared_ptr<spdlog::logger> logger)
      : m_options(options), m_log(std::move(logger)),
        m_run(options.run_dir, options.run_dir.filename().string()) {}
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;
  Mirror(Mirror&&) = delete;
  Mirror& operator=(Mirror&&) = delete;
  ~Mirror() = default;

  int run();
  void on_readable(PipeWatch* watch);

private:
  bool setup();
  void write_failed(const std::string& error, int exit_code);
  void connect();
  void on_line(const std::string& line);
  void write_at(int stream, std::uint64_t offset, const std::string& data);
  void close_watch(PipeWatch*& watch);
  void maybe_attach_done();
  void attach_done();
  void link_up();
  void link_down(const std::string& why);
  void finalize();
  void process_requests();
  void queue_request(const std::vector<std::string>& args);
  void reap();
  std::string far_id() const { return m_far.value("run_id", std::string()); }
  std::string far_chaperone() const { return m_far.value("chaperone", std::string()); }
  void save_far() {
    m_state.extra["far"] = m_far;
    m_run.write_state(m_state);
  }

  static void on_signal(uv_signal_t* handle, int signum);
  static void on_retry(uv_timer_t* handle);

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
  spool::RunState m_state;
  cmdbuild::Target m_target; // through m_master's connection when there is one
  std::optional<FarMaster> m_master;
  nlohmann::json m_far;
  spool::Fd m_files[2];
  std::uint64_t m_sizes[2] = {0, 0};
  bool m_finalized = false;
  std::string m_fatal;

  pid_t m_attach = -1;
  bool m_attach_exited = false;
  int m_attach_status = 0;
  PipeWatch* m_watch[2] = {nullptr, nullptr};
  std::string m_lines;
  std::string m_err_tail;
  nlohmann::json m_final;
  bool m_link_up = false;
  bool m_reconnect_now = false;
  int m_attempts = 0;
  int m_drops = 0;
  int m_far_errors = 0;
  std::map<pid_t, std::string> m_requests; // in flight: helper pid -> request file

  uv_loop_t m_loop{};
  uv_signal_t m_signals[4]{};
  uv_timer_t m_retry{};
  uv_timer_t m_settle{}; // the link has been up k_settle_ms: release_startup_pages()
  bool m_settle_armed = false;
};

void on_poll(uv_poll_t* handle, int, int) {
  auto* watch = static_cast<PipeWatch*>(handle->data);
  watch->owner->on_readable(watch);
}

void Mirror::write_failed(const std::string& error, int exit_code) {
  m_state.state = RunStatus::failed;
  m_state.error = error;
  m_state.exit_code = exit_code;
  m_state.end_time = now_utc();
  m_state.stdout_bytes = m_sizes[0];
  m_state.stderr_bytes = m_sizes[1];
  m_state.extra["far"] = m_far;
  m_run.write_state(m_state);
  m_finalized = true;
  m_log->error("run failed: {}", error);
}

bool Mirror::setup() {
  std::vector<std::string> args;
  try {
    args = split_nul(spool::read_file(m_run.file(k_far_launch_args)));
  } catch (const std::exception& e) {
    write_failed(std::string("far launch arguments lost before the far run started: ") + e.what(),
                 spool::k_exit_chaperone_failed);
    return false;
  }
  LocalBinaries binaries;
  binaries.chaperone = m_options.ship_path;
  std::error_code ec;
  binaries.supervisor = std::filesystem::read_symlink("/proc/self/exe", ec);
  binaries.hash_cache = m_options.run_dir.parent_path() / ".far";
  FarSetup result;
  for (int attempt = 1;; ++attempt) {
    bool retrying = m_far.value("launch_sent", false);
    m_master->ensure();
    result = ensure_far_chaperone(m_target, binaries, m_log);
    if (result.ok) {
      m_far["chaperone"] = result.chaperone;
      m_far["user"] = result.user;
      m_far["version"] = std::string(k_version_line.substr(k_version_line.rfind(' ') + 1));
      m_far["shipped"] = m_far.value("shipped", false) || result.shipped;
      m_far["launch_sent"] = true; // before it is sent: a successor must expect the run
      save_far();
      result = launch_far_run(m_target, result, far_id(), args, retrying, m_log);
    }
    if (result.ok) {
      break;
    }
    // ssh could not get through: the link may come back; anything else will not.
    if (result.exit_code != 255 || attempt >= k_setup_attempts) {
      write_failed(result.error, result.exit_code);
      return false;
    }
    m_log->warn("far setup attempt {} failed: {}", attempt, result.error);
    std::this_thread::sleep_for(std::chrono::milliseconds(500 << attempt));
  }
  m_far["phase"] = "launched";
  save_far();
  (void)::unlink(m_run.file(k_far_launch_args).c_str());
  return true;
}

void Mirror::connect() {
  if (m_attach > 0 || m_finalized) {
    return;
  }
  m_master->ensure();
  process_requests();
  int pipes[2][2];
  for (auto& p : pipes) {
    if (::pipe2(p, O_CLOEXEC) != 0) {
      spool::throw_errno("pipe2");
    }
  }
  SpawnRequest request;
  request.argv = cmdbuild::far_chaperone_command(m_target,
                                                 far_chaperone(),
                                                 {"attach",
                                                  "--json",
                                                  "--stdout-offset",
                                                  std::to_string(m_sizes[0]),
                                                  "--stderr-offset",
                                                  std::to_string(m_sizes[1]),
                                                  far_id()});
  request.stdout_fd = pipes[0][1];
  request.stderr_fd = pipes[1][1];
  request.new_process_group = true;
  request.parent_death_signal = SIGTERM;
  m_lines.clear();
  m_err_tail.clear();
  m_final = nullptr;
  m_attach_exited = false;
  try {
    m_attach = spawn_process(request);
  } catch (...) {
    for (auto& p : pipes) {
      ::close(p[0]);
      ::close(p[1]);
    }
    throw;
  }
  for (int stream = 0; stream < 2; ++stream) {
    ::close(pipes[stream][1]);
    auto* watch = new PipeWatch;
    watch->fd.reset(pipes[stream][0]);
    (void)::fcntl(watch->fd.get(), F_SETFL, O_NONBLOCK);
    watch->owner = this;
    watch->stream = stream;
    uv_poll_init(&m_loop, &watch->poll, watch->fd.get());
    watch->poll.data = watch;
    uv_poll_start(&watch->poll, UV_READABLE, on_poll);
    m_watch[stream] = watch;
  }
  m_log->info("attach pid={} from stdout={} stderr={}", m_attach, m_sizes[0], m_sizes[1]);
}

void Mirror::close_watch(PipeWatch*& watch) {
  if (watch == nullptr) {
    return;
  }
  uv_poll_stop(&watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll),
           [](uv_handle_t* handle) { delete static_cast<PipeWatch*>(handle->data); });
  watch = nullptr;
}

void Mirror::on_readable(PipeWatch* watch) {
  guarded([&] {
    char buffer[65536];
    for (;;) {
      ssize_t n = ::read(watch->fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        if (watch->stream == 1) {
          m_err_tail.append(buffer, static_cast<size_t>(n));
          if (m_err_tail.size() > k_err_tail) {
            m_err_tail.erase(0, m_err_tail.size() - k_err_tail);
          }
          continue;
        }
        m_lines.append(buffer, static_cast<size_t>(n));
        size_t start = 0;
        size_t end;
        while ((end = m_lines.find('\n', start)) != std::string::npos) {
          on_line(m_lines.substr(start, end - start));
          start = end + 1;
          if (m_watch[watch->stream] != watch) {
            return; // closed under us (a gap forced a reconnect)
          }
        }
        m_lines.erase(0, start);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
      }
      // EOF (or a read error, which ends this connection the same way).
      close_watch(m_watch[watch->stream]);
      maybe_attach_done();
      return;
    }
  });
}

void Mirror::on_line(const std::string& line) {
  nlohmann::json event;
  try {
    event = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    m_log->warn("far attach printed a line that is not JSON: {}", line.substr(0, 200));
    return;
  }
  link_up();
  std::string kind = event.value("event", "");
  if (kind == "output") {
    int stream = event.value("stream", "") == "stderr" ? 1 : 0;
    std::string data = event.contains("data_b64")
                           ? base64_decode(event["data_b64"].get<std::string>())
                           : event.value("data", std::string());
    write_at(stream, event.at("offset").get<std::uint64_t>(), data);
  } else if (kind == "final") {
    m_final = event.at("state");
  }
}

void Mirror::write_at(int stream, std::uint64_t offset, const std::string& data) {
  std::uint64_t end = offset + data.size();
  std::uint64_t& size = m_sizes[stream];
  if (end <= size) {
    return; // already here (an overlap after a reconnect)
  }
  if (offset > size) {
    // Never expected (we always attach from our sizes): reconnect from there.
    m_log->error("far {} jumped to offset {} past our {}: reconnecting",
                 stream == 0 ? "stdout" : "stderr",
                 offset,
                 size);
    ::kill(-m_attach, SIGTERM);
    close_watch(m_watch[0]);
    close_watch(m_watch[1]);
    return;
  }
  std::uint64_t skip = size - offset;
  const char* at = data.data() + skip;
  size_t left = data.size() - skip;
  while (left > 0) {
    ssize_t n = ::pwrite(m_files[stream].get(), at, left, static_cast<off_t>(size));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      spool::throw_errno(std::string("write ") + (stream == 0 ? "stdout" : "stderr"));
    }
    at += n;
    left -= static_cast<size_t>(n);
    size += static_cast<std::uint64_t>(n);
  }
}

void Mirror::link_up() {
  if (m_link_up) {
    return;
  }
  m_link_up = true;
  m_attempts = 0;
  m_far_errors = 0;
  m_state.extra["link"] = {
      {"state", "up"}, {"since", now_utc()}, {"attempts", 0}, {"drops", m_drops}};
  m_run.write_state(m_state);
  m_log->info("link up");
  process_requests();
  if (!m_settle_armed) {
    // Once, after the first connection: its set-up (ssh, perhaps shipping the front end) is
    // the mirror's start-up; what it left is given back as the supervisor's is. Unreferenced,
    // so it never keeps the loop alive.
    m_settle_armed = true;
    uv_timer_start(
        &m_settle, [](uv_timer_t*) { release_startup_pages(); }, k_settle_ms, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&m_settle));
  }
}

void Mirror::link_down(const std::string& why) {
  if (m_link_up || !m_state.extra.contains("link")
      || m_state.extra["link"].value("state", "") != "down") {
    if (m_link_up) {
      ++m_drops;
    }
    m_link_up = false;
    m_state.extra["link"] = {{"state", "down"}, {"since", now_utc()}, {"drops", m_drops}};
  }
  ++m_attempts;
  m_state.extra["link"]["attempts"] = m_attempts;
  m_state.extra["link"]["error"] = why;
  m_run.write_state(m_state);
  std::uint64_t delay = k_backoff_first_ms << std::min(m_attempts - 1, 6);
  delay = std::min(delay, k_backoff_max_ms);
  // Jitter, from half to one and a half times the delay: the mirrors of a host lose their
  // shared connection together and must not all come back in the same instant.
  std::uint32_t random = 0;
  (void)::getrandom(&random, sizeof random, 0);
  delay = delay / 2 + random % (delay + 1);
  m_log->info("link down ({}), retry {} in {} ms", why, m_attempts, delay);
  uv_timer_start(&m_retry, on_retry, delay, 0);
}

void Mirror::maybe_attach_done() {
  if (m_attach_exited && m_watch[0] == nullptr && m_watch[1] == nullptr) {
    attach_done();
  }
}

void Mirror::attach_done() {
  m_attach = -1;
  int code =
      WIFEXITED(m_attach_status) ? WEXITSTATUS(m_attach_status) : 128 + WTERMSIG(m_attach_status);
  std::string err = m_err_tail;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r' || err.back() == ' ')) {
    err.pop_back();
  }
  err = err.substr(err.rfind('\n') == std::string::npos ? 0 : err.rfind('\n') + 1);
  if (!m_final.is_null()) {
    const nlohmann::json& output = m_final.value("output", nlohmann::json::object());
    if (output.value("stdout", std::uint64_t{0}) == m_sizes[0]
        && output.value("stderr", std::uint64_t{0}) == m_sizes[1]) {
      finalize();
      uv_stop(&m_loop);
      return;
    }
    m_log->warn("far final state records stdout={} stderr={}, we have {} {}: again",
                output.value("stdout", 0),
                output.value("stderr", 0),
                m_sizes[0],
                m_sizes[1]);
  }
  if (code != 255 && code < 128 && !m_link_up) {
    // ssh got through (it would exit 255 otherwise) but the far attach refused.
    if (++m_far_errors >= k_max_far_errors) {
      write_failed("far run " + far_id() + " on " + m_target.host + " cannot be followed: " + err,
                   spool::k_exit_chaperone_failed);
      uv_stop(&m_loop);
      return;
    }
  }
  link_down(err.empty() ? "attach exited " + std::to_string(code) : err);
}

void Mirror::finalize() {
  const nlohmann::json& far = m_final;
  auto status = spool::parse_run_status(far.value("state", ""));
  m_state.state = status.value_or(RunStatus::failed);
  auto optional_int = [&](const char* key) -> std::optional<int> {
    if (far.contains(key) && far[key].is_number_integer()) {
      return far[key].get<int>();
    }
    return std::nullopt;
  };
  m_state.exit_code = optional_int("exit_code");
  m_state.return_code = optional_int("return_code");
  m_state.signal = optional_int("signal");
  m_state.rusage = far.value("rusage", nlohmann::json(nullptr));
  m_state.start_time = far.value("start_time", m_state.start_time);
  m_state.end_time = far.value("end_time", now_utc());
  if (far.contains("error") && far["error"].is_string()) {
    m_state.error = far["error"].get<std::string>();
  } else {
    m_state.error.reset();
  }
  for (const char* key : {"signals_sent", "core_dumped", "output_limit", "leftovers_killed"}) {
    if (far.contains(key)) {
      m_state.extra[key] = far[key];
    }
  }
  m_state.stdout_bytes = m_sizes[0];
  m_state.stderr_bytes = m_sizes[1];
  m_far["phase"] = "final";
  m_far["pid"] = far.value("pid", nlohmann::json(nullptr));
  m_state.extra["far"] = m_far;
  m_state.extra["link"]["state"] = "closed";
  m_run.write_state(m_state);
  m_finalized = true;
  m_log->info("final state {} exit_code={} stdout={} stderr={}",
              spool::to_string(m_state.state),
              m_state.cli_exit_code(),
              m_sizes[0],
              m_sizes[1]);
}

void Mirror::queue_request(const std::vector<std::string>& args) {
  std::filesystem::path dir = m_run.file(k_far_requests_dir);
  (void)::mkdir(dir.c_str(), 0700);
  std::string body;
  for (const std::string& arg : args) {
    body += arg;
    body.push_back('\0');
  }
  unsigned random = 0;
  (void)::getrandom(&random, sizeof random, 0);
  std::string name = now_utc() + "-" + std::to_string(random);
  spool::Fd fd = spool::open_or_throw(dir / ("." + name), O_WRONLY | O_CREAT | O_EXCL, 0600);
  spool::write_all(fd.get(), body, "far request");
  if (::rename((dir / ("." + name)).c_str(), (dir / name).c_str()) != 0) {
    spool::throw_errno("rename far request");
  }
}

void Mirror::process_requests() {
  if (m_finalized || far_chaperone().empty()) {
    return;
  }
  std::filesystem::path dir = m_run.file(k_far_requests_dir);
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.') {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = (dir / name).string();
    bool in_flight = false;
    for (const auto& [pid, file] : m_requests) {
      in_flight = in_flight || file == path;
    }
    if (in_flight) {
      continue;
    }
    std::vector<std::string> args{"kill", far_id()};
    try {
      for (const std::string& arg : split_nul(spool::read_file(path))) {
        args.push_back(arg);
      }
    } catch (const std::exception& e) {
      m_log->warn("far request {}: {}", name, e.what());
      continue;
    }
    SpawnRequest request;
    request.argv = cmdbuild::far_chaperone_command(m_target, far_chaperone(), args);
    request.new_process_group = true;
    request.parent_death_signal = SIGTERM;
    pid_t pid = spawn_process(request);
    m_requests[pid] = path;
    m_log->info("far request {} sent by pid {}", name, pid);
  }
}

void Mirror::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    if (pid == m_attach) {
      m_attach_exited = true;
      m_attach_status = status;
      maybe_attach_done();
      continue;
    }
    auto it = m_requests.find(pid);
    if (it == m_requests.end()) {
      continue;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::string name = std::filesystem::path(it->second).filename().string();
    if (code == 255 || !WIFEXITED(status)) {
      m_log->info(
          "far request {} not delivered (exit {}): kept for the next connection", name, code);
    } else {
      // Delivered, or refused by the far chaperone (the run had ended): either way done.
      m_log->info("far request {} done there (exit {})", name, code);
      m_state.extra["far_requests_done"].push_back(
          {{"request", name}, {"exit_code", code}, {"time", now_utc()}});
      (void)::unlink(it->second.c_str());
      if (!m_finalized) {
        m_run.write_state(m_state);
      }
    }
    m_requests.erase(it);
  }
}

void Mirror::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Mirror*>(handle->data);
  self->guarded([&] {
    if (signum == SIGCHLD) {
      self->reap();
      return;
    }
    if (signum == SIGTERM || signum == SIGINT) {
      // Like a local supervisor: the signal is meant for the program, which is over there.
      self->queue_request({"-s", signum == SIGTERM ? "TERM" : "INT"});
    }
    self->process_requests(); // SIGUSR1: a client queued a request
  });
}

void Mirror::on_retry(uv_timer_t* handle) {
  auto* self = static_cast<Mirror*>(handle->data);
  self->guarded([&] { self->connect(); });
}

int Mirror::run() {
  m_lock = spool::FileLock::adopt(spool::Fd{m_options.lock_fd});
  if (::fcntl(m_lock.fd(), F_SETFD, FD_CLOEXEC) != 0) {
    spool::throw_errno("fcntl lock fd");
  }
  m_state = m_run.read_state();
  if (spool::is_final(m_state.state)) {
    return 0;
  }
  m_master.emplace(
      target_from_json(m_run.read_spec().at("target")), m_options.run_dir.parent_path(), m_log);
  m_target = m_master->target();
  m_far = m_state.extra.value("far", nlohmann::json::object());
  m_state.boot_id = spool::boot_id();
  m_state.supervisor_pid = ::getpid();
  m_state.supervisor_start_ticks = spool::process_start_ticks(::getpid());
  m_state.state = RunStatus::running;
  if (m_state.start_time.empty()) {
    m_state.start_time = now_utc();
  }
  if (m_state.extra.contains("link")) {
    m_drops = m_state.extra["link"].value("drops", 0);
    m_attempts = m_state.extra["link"].value("attempts", 0);
  }
  m_state.extra["mirror_starts"] = m_state.extra.value("mirror_starts", 0) + 1;
  m_run.write_state(m_state);
  for (int stream = 0; stream < 2; ++stream) {
    m_files[stream] = spool::open_or_throw(
        m_run.file(stream == 0 ? spool::k_stdout_file : spool::k_stderr_file), O_WRONLY);
    m_sizes[stream] = spool::file_size(m_files[stream].get(), "local output");
  }
  // Handles exist before any child does, so no SIGCHLD is missed.
  if (int rc = uv_loop_init(&m_loop); rc != 0) {
    spool::throw_error_code(-rc, "uv_loop_init");
  }
  const int signums[4] = {SIGCHLD, SIGTERM, SIGINT, SIGUSR1};
  for (int i = 0; i < 4; ++i) {
    uv_signal_init(&m_loop, &m_signals[i]);
    m_signals[i].data = this;
    uv_signal_start(&m_signals[i], on_signal, signums[i]);
  }
  uv_timer_init(&m_loop, &m_retry);
  m_retry.data = this;
  uv_timer_init(&m_loop, &m_settle);
  try {
    if (m_far.value("phase", "") != "launched" && !setup()) {
      // recorded as failed
    } else {
      connect();
      uv_run(&m_loop, UV_RUN_DEFAULT);
    }
    if (!m_fatal.empty()) {
      throw std::runtime_error(m_fatal);
    }
  } catch (const std::exception& e) {
    m_log->error("mirror error: {}", e.what());
    // The far run goes on; the next reader starts a new mirror for it.
    if (m_attach > 0) {
      ::kill(-m_attach, SIGTERM);
    }
  }
  close_watch(m_watch[0]);
  close_watch(m_watch[1]);
  for (auto& handle : m_signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), nullptr);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&m_retry), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&m_settle), nullptr);
  uv_run(&m_loop, UV_RUN_DEFAULT);
  uv_loop_close(&m_loop);
  // Helpers still delivering requests are our children: wait briefly for them so a kill
  // queued just before the end is not cut off.
  for (const auto& [pid, file] : m_requests) {
    int status = 0;
    (void)::waitpid(pid, &status, 0);
  }
  return m_finalized ? 0 : 1;
}

} // namespace

int mirror_far_run(const SupervisorOptions& options,
                   const std::shared_ptr<spdlog::logger>& logger) {
  try {
    Mirror mirror(options, logger);
    return mirror.run();
  } catch (const std::exception& e) {
    logger->error("mirror cannot start: {}", e.what());
    return 1;
  }
}

} // namespace chaperone
