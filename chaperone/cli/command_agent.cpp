// chaperone/cli/command_agent.cpp: `chaperone agent` - the seed's remote-style agent:
// program.json in, the run's state as one JSON object out (README "For schedulers").
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/client/agent_program.hpp"
#include "chaperone/client/agent_state.hpp"
#include "chaperone/client/callback_files.hpp"
#include "chaperone/client/launch.hpp"
#include "spool/error.hpp"
#include "spool/follower.hpp"
#include "spool/io.hpp"
#include "spool/run_id.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace chaperone {

namespace {

std::string read_document(const std::string& file) {
  if (!file.empty()) {
    return spool::read_file(file == "-" ? "/dev/stdin" : file);
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      spool::throw_errno("read program.json from stdin");
    }
    if (n == 0) {
      return text;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

// Follows the run (no output) until `done` holds for its state; returns that state.
spool::RunState follow_until(const spool::RunDir& run,
                             std::function<bool(const spool::RunState&)> done,
                             const CliContext& context) {
  spool::CallbackSink ignore([](spool::Stream, std::string_view) {});
  spool::FollowOptions follow;
  follow.want_stdout = false;
  follow.want_stderr = false;
  follow.logger = context.log;
  follow.until = std::move(done);
  spool::Follower follower(run, follow, ignore);
  return follower.run();
}

void print_state(const spool::RunDir& run, const spool::RunState& state) {
  (void)std::printf("%s\n",
                    agent_state(run, state)
                        .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                        .c_str());
  (void)std::fflush(stdout);
}

std::string new_run_id() {
  unsigned bits = 0;
  if (::getrandom(&bits, sizeof bits, 0) != sizeof bits) {
    spool::throw_errno("getrandom");
  }
  return spool::make_run_id(std::chrono::system_clock::now(), bits);
}

} // namespace

void add_agent_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string file;
    std::string state;
    bool wait = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Start the program described by program.json (stdin, or --file) and print its state as "
      "JSON; with callback.url, deliver output and outcome over HTTP(S)");
  auto* file = cmd->add_option("--file", args->file, "Read program.json from FILE, not stdin");
  cmd->add_option("--state", args->state, "Print the state of an existing run (id, name, prefix)")
      ->excludes(file);
  cmd->add_flag("--wait", args->wait, "Block until the run is final, then print its state");
  cmd->callback([args, &context] {
    if (!args->state.empty()) {
      spool::RunDir run = context.find_run(args->state);
      spool::RunState state = args->wait ? follow_until(
                                  run, [](const spool::RunState&) { return false; }, context)
                                         : run.read_state_resolving_lost();
      print_state(run, state);
      context.exit_code = 0;
      return;
    }
    AgentProgram program =
        parse_agent_program(read_document(args->file), std::filesystem::current_path().string());
    LaunchRequest& request = program.request;
    request.stdin_data = program.stdin_data;
    for (char** entry = context.envp; entry != nullptr && *entry != nullptr; ++entry) {
      request.base_env.emplace_back(*entry);
    }
    request.supervisor_path = default_supervisor_path();
    std::filesystem::path sender;
    if (program.callback) {
      sender = default_callback_sender_path();
      if (::access(sender.c_str(), X_OK) != 0) {
        spool::throw_errno("callback sender " + sender.string());
      }
      request.extra_files.emplace_back(k_callback_config_file,
                                       program.callback->to_json().dump(2) + "\n");
      if (program.token) {
        request.extra_files.emplace_back(k_callback_token_file, *program.token);
      }
      // Made with the run, so that its sender never adds a name to the run dir (which could
      // be in the middle of an `rm -rf`): it takes the lock, rewrites the progress by
      // swapping it with its twin, and appends to the log the first sender made.
      request.extra_files.emplace_back(k_callback_lock_file, "");
      request.extra_files.emplace_back(k_callback_progress_file, initial_callback_progress());
      request.extra_files.emplace_back(k_callback_progress_twin, "");
      if (request.run_id.empty()) {
        // Chosen here, so the pending mark exists before the run does: a sender is then
        // restartable from the moment the run can be seen.
        request.run_id = new_run_id();
      }
    }
    std::optional<spool::SpoolRoot> root = context.open_spool(true);
    if (program.callback) {
      if (std::filesystem::exists(root->path() / request.run_id)) {
        throw std::invalid_argument("name: run " + request.run_id + " already exists");
      }
      mark_callback_pending(*root, request.run_id);
    }
    LaunchedRun launched = [&] {
      try {
        return launch_run(*root, request);
      } catch (...) {
        if (program.callback && !std::filesystem::exists(root->path() / request.run_id)) {
          clear_callback_pending(root->path(), request.run_id, true);
        }
        throw;
      }
    }();
    context.log->info("run {} supervisor pid={}", launched.run.run_id(), launched.supervisor_pid);
    if (program.callback) {
      std::string problem = ensure_callback_sender(launched.run, root->path(), sender);
      if (!problem.empty()) {
        context.log->warn("{} (the next chaperone command that looks at the run retries)", problem);
      }
    }
    // The seed's agent prints the program's pid: wait the few ms until the supervisor
    // has started it (or the run ended).
    auto started = [](const spool::RunState& state) {
      return state.state != spool::RunStatus::starting;
    };
    spool::RunState state = args->wait ? follow_until(
                                launched.run, [](const spool::RunState&) { return false; }, context)
                                       : follow_until(launched.run, started, context);
    print_state(launched.run, state);
    context.exit_code = 0;
  });
}

} // namespace chaperone
