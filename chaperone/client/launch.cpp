// chaperone/launch.cpp: run creation and the supervisor hand-off.
#include "chaperone/client/launch.hpp"

#include "chaperone/client/in_image_start.hpp"
#include "chaperone/supervisor/mirror.hpp"
#include "chaperone/supervisor/publication.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/supervisor.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "cmdbuild/far_chaperone.hpp"
#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/printable.hpp"
#include "spool/reader_mark.hpp"
#include "spool/run_id.hpp"
#include "spool/run_list.hpp"
#include "spool/run_retire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>

namespace chaperone {

namespace {

unsigned random_bits() {
  unsigned value = 0;
  if (::getrandom(&value, sizeof value, 0) != sizeof value) {
    spool::throw_errno("getrandom");
  }
  return value;
}

std::string random_nonce() {
  char buffer[24];
  (void)std::snprintf(buffer, sizeof buffer, "%08x%08x", random_bits(), random_bits());
  return buffer;
}

bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The environment the supervisor (and so a local program) starts with: the caller's, with
// --env entries replacing or adding.
std::vector<std::string>
merged_env(const std::vector<std::string>& base,
           const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> env;
  std::map<std::string, std::string> wanted(overrides.begin(), overrides.end());
  for (const std::string& entry : base) {
    std::string name = entry.substr(0, entry.find('='));
    if (wanted.count(name) == 0) {
      env.push_back(entry);
    }
  }
  for (const auto& [name, value] : overrides) {
    env.push_back(name);
    env.back().append("=").append(value);
  }
  return env;
}

void validate_local(const LaunchRequest& request) {
  struct stat st {};
  const std::string& cwd = request.program.cwd;
  if (!cwd.empty()) {
    if (::stat(cwd.c_str(), &st) != 0) {
      throw std::invalid_argument("--cwd " + cwd + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      throw std::invalid_argument("--cwd " + cwd + ": not a directory");
    }
  }
  if (!request.stdin_data) {
    try {
      spool::open_or_throw(request.stdin_path, O_RDONLY);
    } catch (const std::system_error& e) {
      throw std::invalid_argument(std::string("--stdin: ") + e.what());
    }
  }
  for (const auto& [name, value] : request.program.env) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos
        || value.find('\0') != std::string::npos) {
      throw std::invalid_argument("--env " + name
                                  + ": a name must be non-empty, without '=' or NUL");
    }
  }
  for (const std::string& arg : request.program.argv) {
    if (arg.find('\0') != std::string::npos) {
      throw std::invalid_argument("program argument contains a NUL byte");
    }
  }
}

nlohmann::json make_spec(const LaunchRequest& request, const std::string& run_id) {
  // Field by field, each subtree moved into place: an initializer list copies every value
  // it holds once more (argv three times), before the launch has started anything.
  bool exact = is_valid_utf8(request.program.cwd);
  for (const std::string& arg : request.program.argv) {
    exact = exact && is_valid_utf8(arg);
  }
  nlohmann::json program = nlohmann::json::object();
  program["argv"] = request.program.argv;
  program["argv_exact"] = exact;
  program["cwd"] = request.program.cwd;
  nlohmann::json& env_names = program["env_names"] = nlohmann::json::array();
  for (const auto& [name, value] : request.program.env) {
    env_names.push_back(name);
  }
  program["stdin"] = request.stdin_path;
  if (request.record_env) {
    nlohmann::json& env_values = program["env"] = nlohmann::json::object();
    for (const auto& [name, value] : request.program.env) {
      env_values[name] = value;
    }
  }
  nlohmann::json config = nlohmann::json::object();
  config["timeout_ms"] =
      request.timeout ? nlohmann::json(request.timeout->count()) : nlohmann::json(nullptr);
  config["kill_after_ms"] = request.kill_after.count();
  config["keep_children"] = request.keep_children;
  config["max_output"] =
      request.max_output == 0 ? nlohmann::json(nullptr) : nlohmann::json(request.max_output);
  config["max_output_action"] = request.stop_on_max_output ? "stop" : "drop";
  for (const auto& [key, value] : request.workflow.items()) {
    config[key] = value;
  }
  nlohmann::json spec = nlohmann::json::object();
  spec["spec_version"] = 1;
  spec["run_id"] = run_id;
  spec["created"] = spool::format_utc(std::chrono::system_clock::now());
  spec["program"] = std::move(program);
  spec["target"] = target_to_json(request.target);
  spec["config"] = std::move(config);
  return spec;
}

// Stages the run, starts its supervisor holding the run's lock, then publishes the run.
// Returns false (nothing left behind, the supervisor exits on its own) if the id was taken.
bool start_supervisor(const spool::SpoolRoot& root,
                      const LaunchRequest& request,
                      SupervisorOptions options,
                      const std::string& run_id,
                      bool local,
                      LaunchedRun& launched) {
  spool::RunState initial;
  initial.run_id = run_id;
  initial.state = spool::RunStatus::starting;
  nlohmann::json spec = make_spec(request, run_id);
  initial.program = {{"argv", spec["program"]["argv"]}, {"cwd", request.program.cwd}};
  initial.target = spec["target"];
  initial.boot_id = spool::boot_id();
  if (request.hold_far) {
    // A chosen name may exist on the far side already (another controller): the far id
    // gets a random suffix then. A generated id is unique enough as it is.
    char suffix[16];
    (void)std::snprintf(suffix, sizeof suffix, ".%08x", random_bits());
    std::string far_id = request.run_id.empty() ? run_id : run_id + suffix;
    if (far_id.size() > 128) {
      far_id = run_id.substr(0, 119) + suffix;
    }
    initial.extra["far"] = {{"host", request.target.host}, {"run_id", far_id}, {"phase", "setup"}};
    spec["config"]["hold"] = "far";
  }
  std::vector<std::pair<std::string, std::string>> files = request.extra_files;
  if (request.stdin_data) {
    options.stdin_path = (root.path() / run_id / k_stdin_data_file).string();
    spec["program"]["stdin"] = options.stdin_path;
    files.emplace_back(k_stdin_data_file, *request.stdin_data);
  }
  // Only the dir and its lock first: the supervisor loads while the rest is written (it
  // touches nothing before the rename below is decided).
  spool::StagedRun staged = spool::begin_staged_run(root, run_id);
  options.run_dir = staged.dir.path();
  // The supervisor reads this pipe to EOF before it touches the run: it then knows that the
  // rename below has happened (or never will).
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    spool::discard_staged_run(staged);
    spool::throw_errno("pipe2");
  }
  spool::Fd publish_read{pipe_fds[0]};
  spool::Fd publish_write{pipe_fds[1]};
  constexpr int k_publish_fd = 4;
  SpawnRequest spawn;
  spawn.argv = request.supervisor_wrapper;
  spawn.argv.push_back(request.supervisor_path.string());
  std::vector<std::string> args = supervisor_args(options); // RUN_DIR first
  std::vector<std::string> await = publication_args(k_publish_fd, staged.staged_path);
  args.insert(args.begin() + 1, await.begin(), await.end());
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = local ? merged_env(request.base_env, request.program.env) : request.base_env;
  // The dup2s onto 3 and 4 run in order: a source that is itself 3 or 4 could be
  // overwritten before it is copied. Sources from 10 up cannot.
  spool::Fd lock_source{::fcntl(staged.lock.fd(), F_DUPFD_CLOEXEC, 10)};
  spool::Fd publish_source{::fcntl(publish_read.get(), F_DUPFD_CLOEXEC, 10)};
  if (!lock_source.valid() || !publish_source.valid()) {
    spool::discard_staged_run(staged);
    spool::throw_errno("fcntl F_DUPFD_CLOEXEC");
  }
  publish_read = spool::Fd();
  spawn.extra_fds.emplace_back(lock_source.get(), 3);
  spawn.extra_fds.emplace_back(publish_source.get(), k_publish_fd);
  spool::Fd watch;
  spool::Fd watch_source;
  if (request.share_watch) {
    // Fd 5 of the supervisor, which never touches it (its children do not inherit it): it
    // only keeps the instance alive until it exits. Without one, the caller's Follower makes
    // its own.
    watch.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (watch.valid()) {
      watch_source.reset(::fcntl(watch.get(), F_DUPFD_CLOEXEC, 10));
    }
    if (watch_source.valid()) {
      spawn.extra_fds.emplace_back(watch_source.get(), k_publish_fd + 1);
    } else {
      watch = spool::Fd();
    }
  }
  spawn.new_session = true;
  spawn.search_path = false;
  // Forked without exec where the supervisor will hand off (in_image_start.hpp).
  bool in_image = request.supervisor_in_image && local && !request.hold_far
                  && request.max_output == 0 && request.supervisor_wrapper.empty()
                  && may_start_in_image(request.supervisor_path);
  // LaunchRequest::await_program_start: a pipe whose write end only a forked supervisor holds,
  // on the next number after the lock, the publication pipe and the watch (if any): every
  // number below the last target is a target, so no other fd of ours stays in the child.
  const int wake_fd = k_publish_fd + (watch_source.valid() ? 2 : 1);
  spool::Fd wake_read;
  spool::Fd wake_source;
  if (in_image && request.await_program_start) {
    int wake_fds[2];
    if (::pipe2(wake_fds, O_CLOEXEC) == 0) {
      wake_read.reset(wake_fds[0]);
      spool::Fd wake_write{wake_fds[1]};
      wake_source.reset(::fcntl(wake_write.get(), F_DUPFD_CLOEXEC, 10)); // see lock_source
    }
    if (wake_source.valid()) {
      spawn.extra_fds.emplace_back(wake_source.get(), wake_fd);
    } else {
      wake_read = spool::Fd(); // no pipe, no wait: only the speed-up is lost
    }
  }
  pid_t pid = 0;
  spool::Fd supervisor_pidfd;
  bool published = false;
  spool::FileLock reader_mark;
  // If the supervisor cannot be exec'ed (E2BIG, ENOMEM, a binary replaced under us: its
  // path was checked above), its child records that in the run as a final `failed` state,
  // once the rename below has happened or not, as the supervisor would have.
  const std::string first_exec = spawn.argv.front(); // the supervisor, or its wrapper
  auto record_exec_failure = [&staged, &first_exec](int exec_errno) {
    Publication publication{k_publish_fd, staged.staged_path};
    if (!await_publication(publication, staged.dir.path(), 3)) {
      return; // never visible: nothing to record
    }
    spool::RunState state = staged.dir.read_state();
    state.state = spool::RunStatus::failed;
    state.exit_code = spool::k_exit_chaperone_failed;
    state.error = "exec " + first_exec + ": " + std::strerror(exec_errno);
    state.end_time = spool::format_utc(std::chrono::system_clock::now());
    staged.dir.write_state(state);
  };
  try {
    if (in_image) {
      // Filled first: a child that goes on in our image makes every page we write after the
      // fork a copy, where an exec'd one drops them at once. It still exists before the run
      // is visible, and waits for the rename as an exec'd one does.
      spool::fill_staged_run(staged, spec, initial, files);
      // The code's page-table entries are not handed to the fork any more (an anon_vma given
      // to the code mapping, LAUNCH-2026-12-03e): with the launch path's code linked together
      // (hot-functions.txt) the child faults in few of its pages, and the two mprotects of the
      // whole mapping and the larger page-table copy cost more than those faults
      // (docs/bench/LAUNCH-2026-12-04.md).
      pid = spawn_without_waiting(spawn, record_exec_failure, [&](char** env) {
        become_supervisor_in_image(
            spawn.argv, env, WrittenRun{spec, initial}, wake_source.valid() ? wake_fd : -1);
      });
    } else {
      // Not waiting for the exec saves the caller the loading of the supervisor's image: the
      // lock is already held (fd 3 shares our open file description), and the supervisor
      // starts only once the rename below is decided; it loads while the run is filled.
      pid = spawn_without_waiting(spawn, record_exec_failure);
      spool::fill_staged_run(staged, spec, initial, files);
    }
    if (request.share_watch && request.supervisor_wrapper.empty()) {
      // Opened while the supervisor still waits for the rename, with a pid nobody else
      // knows: it cannot have exited and been replaced yet. Without one (an old kernel),
      // the follower opens its own once the state names the supervisor.
      supervisor_pidfd = spool::open_pidfd(pid);
    }
    publish_source = spool::Fd(); // only the supervisor may hold the read end now
    if (request.hold_far) {
      // The far `run` options, --env values included: kept out of spec.json (names only) and
      // removed by the mirror once the far run exists.
      std::string body;
      for (const std::string& arg : far_run_args(request)) {
        body += arg;
        body.push_back('\0');
      }
      spool::Fd fd = spool::open_or_throw(
          staged.staged_path / k_far_launch_args, O_WRONLY | O_CREAT | O_EXCL, 0600);
      spool::write_all(fd.get(), body, k_far_launch_args);
    }
    if (request.mark_reader) {
      reader_mark = spool::mark_as_reader(spool::RunDir(staged.staged_path, staged.dir.run_id()));
    }
    published = spool::publish_run(staged);
  } catch (...) {
    spool::discard_staged_run(staged);
    throw;
  }
  if (!published) {
    spool::discard_staged_run(staged);
    return false;
  }
  // Closing our end lets the supervisor go on; our copy of the lock closes with `staged`.
  launched.run = staged.dir;
  launched.supervisor_pid = pid;
  launched.reader_mark = std::move(reader_mark);
  launched.watch = std::move(watch);
  launched.supervisor_pidfd = std::move(supervisor_pidfd);
  if (wake_read.valid()) {
    publish_write = spool::Fd(); // the supervisor goes on from its publication
    wake_source = spool::Fd();   // EOF once its copy closes
    auto slept_from = std::chrono::steady_clock::now();
    pollfd wake{wake_read.get(), POLLIN, 0};
    // A signal ends it early: harmless, the caller only goes on sooner.
    launched.program_start_woken = ::poll(&wake, 1, k_program_start_wait_ms) > 0;
    launched.program_start_wait = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - slept_from);
  }
  return true;
}

} // namespace

std::filesystem::path default_supervisor_path() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    throw std::system_error(error, "readlink /proc/self/exe");
  }
  std::filesystem::path beside = self.parent_path() / "chaperone-supervisor";
  if (::access(beside.c_str(), X_OK) == 0) {
    return beside;
  }
  return self.parent_path().parent_path() / "libexec" / "chaperone" / "chaperone-supervisor";
}

std::filesystem::path default_front_end_path(const std::filesystem::path& supervisor) {
  std::filesystem::path beside = supervisor.parent_path() / "chaperone";
  if (::access(beside.c_str(), X_OK) == 0) {
    return beside;
  }
  return supervisor.parent_path().parent_path().parent_path() / "bin" / "chaperone";
}

std::vector<std::string> far_run_args(const LaunchRequest& request) {
  std::vector<std::string> args;
  if (!request.program.cwd.empty()) {
    args.insert(args.end(), {"--cwd", request.program.cwd});
  }
  for (const auto& [name, value] : request.program.env) {
    args.emplace_back("--env");
    args.push_back(name);
    args.back().append("=").append(value);
  }
  if (request.record_env) {
    args.emplace_back("--record-env");
  }
  if (request.timeout) {
    args.insert(args.end(), {"--timeout", std::to_string(request.timeout->count()) + "ms"});
  }
  args.insert(args.end(), {"--kill-after", std::to_string(request.kill_after.count()) + "ms"});
  if (request.keep_children) {
    args.emplace_back("--keep-children");
  }
  if (request.max_output > 0) {
    args.insert(args.end(), {"--max-output", std::to_string(request.max_output)});
    if (request.stop_on_max_output) {
      args.insert(args.end(), {"--max-output-action", "stop"});
    }
  }
  args.emplace_back("--");
  args.insert(args.end(), request.program.argv.begin(), request.program.argv.end());
  return args;
}

LaunchedRun launch_run(const spool::SpoolRoot& root, const LaunchRequest& request) {
  if (request.program.argv.empty()) {
    throw std::invalid_argument(
        "no program given (usage: chaperone run [options] -- PROGRAM [ARGS...])");
  }
  if (!request.run_id.empty()) {
    if (auto problem = spool::run_id_problem(request.run_id)) {
      throw std::invalid_argument("bad --name \"" + spool::printable(request.run_id)
                                  + "\": " + *problem);
    }
  }
  bool local = request.target.mode == cmdbuild::TargetMode::local;
  SupervisorOptions options;
  options.timeout = request.timeout;
  options.kill_after = request.kill_after;
  options.keep_children = request.keep_children;
  options.max_output = request.max_output;
  options.stop_on_max_output = request.stop_on_max_output;
  options.lock_fd = 3;
  options.stdin_path = request.stdin_path;
  if (request.hold_far) {
    if (!cmdbuild::is_ssh_mode(request.target.mode)) {
      throw std::invalid_argument("--hold far needs a far host (--host, an ssh mode)");
    }
    if (request.stdin_path != "/dev/null") {
      throw std::invalid_argument(
          "--stdin cannot be used with --hold far (the far program reads /dev/null)");
    }
    if (!request.workflow.empty()) {
      throw std::invalid_argument("--hold far cannot be combined with workflow options yet");
    }
    // The same checks as a plain remote run (NUL bytes, the size of the remote command line).
    (void)cmdbuild::build_command(request.program, request.target, "0123456789abcdef");
    std::vector<std::string> probe{"run", "-d", "--name", std::string(150, 'x')};
    std::vector<std::string> far_args = far_run_args(request);
    probe.insert(probe.end(), far_args.begin(), far_args.end());
    (void)cmdbuild::far_chaperone_command(request.target, "/" + std::string(200, 'x'), probe);
    options.mirror = true;
    options.ship_path = default_front_end_path(request.supervisor_path).string();
    options.timeout.reset(); // enforced by the far chaperone
    if (::access(options.ship_path.c_str(), R_OK) != 0) {
      spool::throw_errno("front end to ship " + options.ship_path);
    }
  } else if (local) {
    validate_local(request);
    options.argv = request.program.argv;
    options.cwd = request.program.cwd;
  } else {
    options.nonce = random_nonce();
    // Throws std::invalid_argument for anything that cannot be run safely.
    cmdbuild::Command command =
        cmdbuild::build_command(request.program, request.target, options.nonce);
    options.argv = command.argv;
    options.nonce = command.nonce;
  }
  if (::access(request.supervisor_path.c_str(), X_OK) != 0) {
    spool::throw_errno("supervisor " + request.supervisor_path.string());
  }

  bool named = !request.run_id.empty();
  LaunchedRun launched{spool::RunDir(root.path(), ""), 0, false, {}, {}, {}, {}, {}, false};
  for (int attempt = 0;; ++attempt) {
    std::string run_id = named
                             ? request.run_id
                             : spool::make_run_id(std::chrono::system_clock::now(), random_bits());
    bool exists = named && ::access((root.path() / run_id).c_str(), F_OK) == 0;
    if (exists && request.if_exists == IfExists::attach) {
      spool::RunDir existing(root.path() / run_id, run_id);
      return LaunchedRun{existing, 0, true, {}, spool::mark_as_reader(existing), {}, {}, {}, false};
    }
    if (exists && request.if_exists == IfExists::replace) {
      // nullopt: another caller moved it first; look again.
      if (std::optional<std::string> kept = spool::retire_run(root, run_id)) {
        launched.replaced = *kept;
      }
      if (attempt < 100) {
        continue;
      }
    }
    if (exists && request.if_exists == IfExists::fail) {
      throw std::system_error(std::make_error_code(std::errc::file_exists),
                              "run " + run_id + " already exists");
    }
    if (start_supervisor(root, request, options, run_id, local, launched)) {
      return launched;
    }
    // The id was taken between our look and our rename. A generated id clashes only if two
    // runs start in the same microsecond with the same random bits: try again. A --name is
    // looked at again (attach, replace) or is the caller's error.
    if ((named && request.if_exists == IfExists::fail) || attempt >= 100) {
      throw std::system_error(std::make_error_code(std::errc::file_exists),
                              "run " + run_id + " already exists");
    }
  }
}

} // namespace chaperone
