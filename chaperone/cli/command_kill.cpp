// chaperone/command_kill.cpp: `chaperone kill ID [-s SIGNAL] [--grace DURATION]`.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/duration.hpp"
#include "chaperone/client/signal_run.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/follower.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <csignal>
#include <stdexcept>

namespace chaperone {

namespace {

// Waits up to `grace` for the run to become final; true if it did.
bool wait_final(const spool::RunDir& run, std::chrono::milliseconds grace, CliContext& context) {
  spool::FollowOptions follow;
  follow.want_stdout = follow.want_stderr = false;
  follow.timeout = grace;
  follow.logger = context.log;
  spool::CallbackSink sink([](spool::Stream, std::string_view) {});
  spool::Follower follower(run, follow, sink);
  return spool::is_final(follower.run().state);
}

} // namespace

void add_kill_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    std::string signal;
    std::string grace = "10s";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "kill",
      "End a run: SIGTERM to its process group, then SIGKILL if it is still running after the "
      "grace period; with -s, send that one signal only");
  cmd->add_option("run", args->run, "Run id, name or unique id prefix")->required();
  cmd->add_option(
      "-s,--signal", args->signal, "Send only this signal (TERM, KILL, INT, USR1, 9, ...)");
  cmd->add_option("--grace", args->grace, "Time between TERM and KILL (default 10s)");
  cmd->callback([args, &context] {
    spool::RunDir run = context.find_run(args->run);
    if (!args->signal.empty()) {
      auto signum = parse_signal(args->signal);
      if (!signum || *signum == 0) {
        throw std::invalid_argument("unknown signal \"" + args->signal + "\"");
      }
      pid_t group = signal_run(run, *signum);
      context.log->info("sent {} to run {} (group {})", signal_name(*signum), run.run_id(), group);
      context.exit_code = 0;
      return;
    }
    auto grace = parse_duration(args->grace);
    if (!grace) {
      throw std::invalid_argument("--grace \"" + args->grace
                                  + "\": expected a duration such as 10s");
    }
    signal_run(run, SIGTERM);
    if (!wait_final(run, *grace, context)) {
      context.log->warn(
          "run {} still running {} after SIGTERM: sending SIGKILL", run.run_id(), args->grace);
      try {
        signal_run(run, SIGKILL);
      } catch (const std::runtime_error& e) {
        // It may have ended between the wait and the KILL; anything else is an error.
        if (!spool::is_final(run.read_state_resolving_lost().state)) {
          throw;
        }
      }
      // Return once the end is recorded, so `kill` then `status` shows it.
      wait_final(run, *grace, context);
    }
    context.exit_code = 0;
  });
}

} // namespace chaperone
