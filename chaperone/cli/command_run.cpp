// chaperone/command_run.cpp: `chaperone run [options] -- PROGRAM [ARGS...]`.
#include "chaperone/cli/attach_session.hpp"
#include "chaperone/cli/byte_size.hpp"
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/cli_error.hpp"
#include "chaperone/cli/duration.hpp"
#include "chaperone/cli/exit_now.hpp"
#include "chaperone/cli/garbage.hpp"
#include "chaperone/cli/workflow_options.hpp"
#include "chaperone/client/launch.hpp"
#include "chaperone/supervisor/on_exit.hpp"
#include "cmdbuild/systemd_scope.hpp"
#include "spool/printable.hpp"
#include "spool/run_id.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace chaperone {

namespace {

struct RunArgs {
  bool detach = false;
  bool json = false;
  bool systemd_scope = false;
  bool attach_existing = false;
  bool replace = false;
  std::string name;
  std::string cwd;
  std::vector<std::string> env;
  std::string stdin_path = "/dev/null";
  std::string timeout;
  std::string kill_after = "10s";
  bool keep_children = false;
  bool record_env = false;
  std::string max_output;
  std::string max_output_action = "drop";
  std::string host;
  int port = 0;
  std::string login;
  std::string sudo_user;
  std::string mode;
  std::string identity;
  std::vector<std::string> ssh_options;
  std::string control_path;
  std::string hold = "link";
  std::vector<std::string> program;
  WorkflowArgs workflow;
};

std::filesystem::path absolute_from_cwd(const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p : (std::filesystem::current_path() / p).lexically_normal();
}

// Translates the command line into a LaunchRequest (no I/O except the cwd lookup).
LaunchRequest make_request(const RunArgs& args, const CliContext& context) {
  char** envp = context.envp;
  LaunchRequest request;
  request.run_id = args.name;
  request.program.argv = args.program.empty() ? context.program_argv : args.program;
  if (request.program.argv.empty()) {
    throw std::invalid_argument(
        "no program given (usage: chaperone run [options] -- PROGRAM [ARGS...])");
  }
  for (const std::string& entry : args.env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::invalid_argument("--env \"" + entry + "\": expected NAME=VALUE");
    }
    request.program.env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  request.stdin_path = absolute_from_cwd(args.stdin_path).string();
  if (!args.timeout.empty()) {
    request.timeout = parse_duration(args.timeout);
    if (!request.timeout || request.timeout->count() == 0) {
      throw std::invalid_argument("--timeout \"" + args.timeout
                                  + "\": expected a duration such as 90s, 5m or 1h30m");
    }
  }
  auto kill_after = parse_duration(args.kill_after);
  if (!kill_after) {
    throw std::invalid_argument("--kill-after \"" + args.kill_after
                                + "\": expected a duration such as 10s");
  }
  request.kill_after = *kill_after;
  request.keep_children = args.keep_children;
  if (!args.max_output.empty()) {
    auto limit = parse_byte_size(args.max_output);
    if (!limit || *limit == 0) {
      throw std::invalid_argument(
          "--max-output \"" + args.max_output
          + "\": expected a positive byte count such as 1048576, 64K or 10M");
    }
    request.max_output = *limit;
  }
  request.stop_on_max_output = args.max_output_action == "stop";
  request.record_env = args.record_env;

  cmdbuild::Target& target = request.target;
  target.host = args.host;
  target.login = args.login;
  target.sudo_user = args.sudo_user;
  target.identity_file = args.identity.empty() ? "" : absolute_from_cwd(args.identity).string();
  target.ssh_options = args.ssh_options;
  target.control_path = args.control_path;
  if (args.port != 0) {
    target.port = args.port;
  }
  if (!args.mode.empty()) {
    auto mode = cmdbuild::parse_target_mode(args.mode);
    if (!mode) {
      throw std::invalid_argument(
          "--mode \"" + args.mode
          + "\": expected local, sudo, ssh, ssh-then-sudo or sudo-then-ssh");
    }
    target.mode = *mode;
  } else {
    target.mode = cmdbuild::default_mode(!args.host.empty(), !args.sudo_user.empty());
  }
  if (target.mode == cmdbuild::TargetMode::local) {
    if (!args.host.empty() || !args.sudo_user.empty()) {
      throw std::invalid_argument("--mode local cannot be combined with --host or --sudo-user");
    }
    request.program.cwd = absolute_from_cwd(args.cwd.empty() ? "." : args.cwd).string();
  } else {
    request.program.cwd = args.cwd; // interpreted on the far side
  }
  for (char** entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    request.base_env.emplace_back(*entry);
  }
  request.supervisor_path = default_supervisor_path();
  request.hold_far = args.hold == "far";
  request.workflow = workflow_config(args.workflow, context);
  return request;
}

// The options shared by `run` and `cmd`.
void add_launch_options(CLI::App* cmd, RunArgs* args) {
  // Checked here, not only in launch_run: an explicit empty --name must be refused, not
  // taken for "no name" (which would quietly generate an id).
  cmd->add_option("--name", args->name, "Use NAME as the run id")
      ->check(
          [](const std::string& name) {
            std::optional<std::string> problem = spool::run_id_problem(name);
            return problem ? *problem + " (got \"" + spool::printable(name) + "\")" : std::string();
          },
          "RUN-ID");
  cmd->add_option("--cwd", args->cwd, "Working directory of the program (default: ours)");
  // Repeatable options take one value per occurrence: a vector option that takes several
  // would end at `--` (CLI11 reads it as "end of this option's values") and the program's
  // own dash arguments after it would then be parsed as ours.
  cmd->add_option("--env", args->env, "Set NAME=VALUE in the program's environment (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option(
      "--stdin", args->stdin_path, "File the program reads as stdin (default /dev/null)");
  cmd->add_option(
      "--timeout", args->timeout, "End the run after DURATION (90s, 5m, 1h30m): exit 124");
  cmd->add_option(
      "--kill-after", args->kill_after, "Grace between SIGTERM and SIGKILL (default 10s)");
  cmd->add_flag("--keep-children",
                args->keep_children,
                "Leave processes the program started running when it exits");
  cmd->add_option("--max-output",
                  args->max_output,
                  "Keep at most BYTES (64K, 10M, 1G) of each stream; default unlimited");
  cmd->add_option("--max-output-action",
                  args->max_output_action,
                  "drop (default: the run goes on, the excess is dropped) or stop (end the run)")
      ->check(CLI::IsMember({"drop", "stop"}));
  cmd->add_flag(
      "--record-env", args->record_env, "Store --env values in spec.json (default: names only)");
  cmd->add_option("--host", args->host, "Run on HOST over ssh");
  cmd->add_option("--port", args->port, "ssh port");
  cmd->add_option("--login", args->login, "ssh login user");
  cmd->add_option("--sudo-user", args->sudo_user, "Run as USER through sudo");
  cmd->add_option("--mode", args->mode, "local, sudo, ssh, ssh-then-sudo or sudo-then-ssh");
  cmd->add_option("-i,--identity", args->identity, "ssh identity file");
  cmd->add_option("-o,--ssh-option", args->ssh_options, "ssh option KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option(
      "--control-path", args->control_path, "ssh ControlPath to reuse a master connection");
  cmd->add_option("--hold",
                  args->hold,
                  "Who holds a remote program: link (default: the local supervisor, through one "
                  "ssh session) or far (a chaperone on the far host, shipped there if missing; "
                  "the run survives dropped links and a dead local supervisor)")
      ->check(CLI::IsMember({"link", "far"}));
  add_workflow_options(cmd, &args->workflow);
  cmd->add_option("program", args->program, "PROGRAM [ARGS...] (after --)");
}

// `systemd-run --scope` in front of the supervisor, or a CliError ("no_systemd") when systemd
// is not the init here: the check sd_booted(3) makes.
std::vector<std::string> systemd_scope_wrapper() {
  struct stat st {};
  if (::stat("/run/systemd/system", &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw CliError("no_systemd",
                   "--systemd-scope: systemd is not running as PID 1 here (no "
                   "/run/systemd/system), so there is no unit cgroup to leave; run without it");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    end = end == std::string::npos ? dirs.size() : end;
    std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, end - start)) / "systemd-run";
    if (candidate.is_absolute() && ::access(candidate.c_str(), X_OK) == 0) {
      return cmdbuild::systemd_scope_argv(candidate.string(), ::geteuid() == 0);
    }
    start = end + 1;
  }
  throw CliError("no_systemd", "--systemd-scope: systemd-run not found in PATH");
}

// What `run` does once its options are read, by CLI11 or by run_plain_command().
void start_run(const RunArgs& args, CliContext& context) {
  LaunchRequest request = make_request(args, context);
  if ((args.attach_existing || args.replace) && args.name.empty()) {
    throw std::invalid_argument(std::string(args.replace ? "--replace" : "--attach-existing")
                                + " needs --name");
  }
  request.share_watch = !args.detach;
  request.mark_reader = !args.detach;
  request.if_exists = args.attach_existing ? IfExists::attach
                      : args.replace       ? IfExists::replace
                                           : IfExists::fail;
  // Forked without exec (`run` has no other thread): an attached run waits for the
  // supervisor's start on its way to the exit status, and a script that calls `run -d` in a
  // loop pays for every supervisor's start-up on the machine's CPUs.
  request.supervisor_in_image = true;
  request.await_program_start = !args.detach;
  if (args.systemd_scope) {
    request.supervisor_wrapper = systemd_scope_wrapper();
    context.log->info("supervisor started through {}", request.supervisor_wrapper.front());
  }
  std::optional<spool::SpoolRoot> root = context.open_spool(true);
  LaunchedRun launched = launch_run(*root, request);
  if (launched.existing) {
    context.log->info("run {} exists: attaching", launched.run.run_id());
  } else {
    context.log->info("run {} supervisor pid={}", launched.run.run_id(), launched.supervisor_pid);
  }
  if (!launched.replaced.empty()) {
    context.log->info("earlier run kept as {}", launched.replaced);
  }
  if (launched.program_start_wait && launched.program_start_woken) {
    context.log->debug("slept {} us until the supervisor let the program go",
                       launched.program_start_wait->count());
  } else if (launched.program_start_wait) {
    context.log->debug("slept {} us without word from the supervisor: following anyway",
                       launched.program_start_wait->count());
  }
  apply_retention(*root, std::getenv("CHAPERONE_RETENTION"), [&](const std::string& line) {
    context.log->warn("{}", line);
  });
  if (args.detach && args.json) {
    nlohmann::json out{
        {"id", launched.run.run_id()},
        {"name", args.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.name)},
        {"run_dir", launched.run.path().string()}};
    (void)std::printf("%s\n", out.dump().c_str());
    context.exit_code = 0;
    exit_now(0); // a detached launch holds nothing (exit_now.hpp)
    return;
  }
  if (args.detach) {
    (void)std::printf("%s\n", launched.run.run_id().c_str());
    context.exit_code = 0;
    exit_now(0);
    return;
  }
  AttachOptions attach;
  attach.inotify_fd = launched.watch.valid() ? launched.watch.get() : -1;
  attach.supervisor_pidfd =
      launched.supervisor_pidfd.valid() ? launched.supervisor_pidfd.get() : -1;
  KnownRunEnd known;
  if (!launched.existing) {
    known.has_on_exit = config_has_on_exit(request.workflow); // the spec is ours
  }
  context.exit_code = attach_to_run(launched.run, attach, context, &known);
  // Ours closes first: the supervisor's copy is then the last, and the instance's teardown
  // (an SRCU grace period, up to ~25 ms) happens in its exit, after it let go of the run.
  launched.watch = spool::Fd();
  wait_for_supervisor_to_let_go(launched.run, context, known);
  // The supervisor still runs in a copy of our pages (it lingers to let go of the run, or
  // holds it): the frees and destructors of a normal exit would copy ~10 of them first.
  // The reader mark is released by the exit as by its destructor.
  exit_now(context.exit_code);
}

} // namespace

bool run_plain_command(int argc, char** argv, CliContext& context) {
  if (argc < 4 || std::string_view(argv[1]) != "run") {
    return false;
  }
  // Only what this loop knows for certain; any other word, a repeat, or a value CLI11 would
  // check and might refuse sends the whole call to the full parser, which also words its
  // errors. Options left unset keep RunArgs' defaults, as CLI11 leaves them.
  RunArgs args;
  bool named = false;
  std::string_view spool_dir; // --spool DIR, as the full parser takes it after `run`
  int i = 2;
  for (; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word == "--") {
      break;
    }
    if ((word == "-d" || word == "--detach") && !args.detach) {
      args.detach = true;
      continue;
    }
    if (word == "--json" && !args.json) {
      args.json = true;
      continue;
    }
    if (word == "--spool" || word.substr(0, 8) == "--spool=") {
      std::string_view dir;
      if (word == "--spool") {
        dir = i + 1 < argc ? std::string_view(argv[++i]) : std::string_view();
      } else {
        dir = word.substr(8);
      }
      if (!spool_dir.empty() || dir.empty() || dir.front() == '-') {
        return false;
      }
      spool_dir = dir;
      continue;
    }
    std::string_view value;
    if (word == "--name" && i + 1 < argc) {
      value = argv[++i];
    } else if (word.substr(0, 7) == "--name=") {
      value = word.substr(7);
    } else {
      return false;
    }
    if (named || value.empty() || value.front() == '-'
        || spool::run_id_problem(std::string(value))) {
      return false;
    }
    args.name = value;
    named = true;
  }
  if (i + 1 >= argc || (args.json && !args.detach)) {
    return false; // no program, or --json without -d: the full parser says why
  }
  context.program_argv.assign(argv + i + 1, argv + argc);
  if (!spool_dir.empty()) {
    context.spool_dir = spool_dir;
  }
  start_run(args, context);
  return true;
}

void add_run_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd =
      app.add_subcommand("run", "Start PROGRAM under a detached supervisor and follow it");
  CLI::Option* detach =
      cmd->add_flag("-d,--detach", args->detach, "Print the run id and return at once");
  cmd->add_flag("--json", args->json, R"(With -d: print {"id", "name", "run_dir"} as JSON)")
      ->needs(detach);
  cmd->add_flag("--systemd-scope",
                args->systemd_scope,
                "Start the supervisor in a transient systemd scope of its own (systemd-run "
                "--scope; --user unless root), so that stopping the unit or session it was "
                "started from does not kill the run");
  CLI::Option* attach_existing =
      cmd->add_flag("--attach-existing",
                    args->attach_existing,
                    "With --name: if run NAME exists, attach to it (a final one replays its "
                    "output and exit code) instead of failing; else start it. Atomic: racing "
                    "callers get one run");
  cmd->add_flag("--replace",
                args->replace,
                "With --name: if run NAME has ended, keep it as NAME@<end time> and start anew")
      ->excludes(attach_existing);
  add_launch_options(cmd, args.get());
  cmd->callback([args, &context] { start_run(*args, context); });
}

void add_cmd_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<RunArgs>();
  auto nul_separated = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "cmd", "Print the argv `run` would execute for these options, as one JSON array");
  cmd->add_flag(
      "-0,--null", *nul_separated, "Print the raw argv, NUL-separated, for exact inspection");
  add_launch_options(cmd, args.get());
  cmd->callback([args, nul_separated, &context] {
    LaunchRequest request = make_request(*args, context);
    if (request.hold_far) {
      throw std::invalid_argument("cmd: --hold far runs several far-side steps (probe, install, "
                                  "run, attach); see README \"Remote runs that survive the link\"");
    }
    std::vector<std::string> argv = request.program.argv;
    if (request.target.mode != cmdbuild::TargetMode::local) {
      // A fixed example nonce: the real one is random per run.
      argv = cmdbuild::build_command(request.program, request.target, "0123456789abcdef").argv;
    }
    if (*nul_separated) {
      for (const std::string& arg : argv) {
        (void)std::fwrite(arg.data(), 1, arg.size() + 1, stdout); // includes the NUL
      }
      context.exit_code = 0;
      return;
    }
    nlohmann::json json = argv;
    std::string strict;
    try {
      strict = json.dump();
    } catch (const nlohmann::json::exception&) {
      context.log->warn(
          "argv holds invalid UTF-8, shown as U+FFFD; use `chaperone cmd -0` for the exact bytes");
    }
    (void)std::printf("%s\n",
                      json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    context.exit_code = 0;
  });
}

} // namespace chaperone
