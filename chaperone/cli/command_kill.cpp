// chaperone/command_kill.cpp: `chaperone kill ID [-s SIGNAL] [--grace DURATION]`.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/cli_error.hpp"
#include "chaperone/cli/duration.hpp"
#include "chaperone/client/far_client.hpp"
#include "chaperone/client/signal_run.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/follower.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <csignal>
#include <cstdio>
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

// With --json: what was sent and the state the run is in now.
void print_result(const spool::RunDir& run, const std::vector<std::string>& sent, bool json) {
  if (!json) {
    return;
  }
  spool::RunState state = run.read_state_resolving_lost();
  nlohmann::json out{
      {"run_id", run.run_id()},
      {"signals", sent},
      {"state", spool::to_string(state.state)},
      {"exit_code",
       spool::is_final(state.state) ? nlohmann::json(state.cli_exit_code()) : nlohmann::json()}};
  (void)std::printf("%s\n", out.dump().c_str());
}

// signal_run(), with its refusal for a run that has ended turned into a CliError a script can
// tell apart ("not_running", or "lost" when its supervisor died).
pid_t send_signal(const spool::RunDir& run, int signum) {
  try {
    return signal_run(run, signum);
  } catch (const std::runtime_error& e) {
    spool::RunState state = run.read_state_resolving_lost();
    if (spool::is_final(state.state)) {
      throw CliError(state.state == spool::RunStatus::lost ? "lost" : "not_running", e.what());
    }
    throw;
  }
}

} // namespace

void add_kill_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    std::string signal;
    std::string grace = "10s";
    bool json = false;
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
  cmd->add_flag("--json",
                args->json,
                "Print {run_id, signals, state, exit_code} as JSON; errors as one JSON object");
  cmd->callback([args, &context] {
    spool::RunDir run = context.find_run(args->run);
    if (!args->signal.empty()) {
      auto signum = parse_signal(args->signal);
      if (!signum || *signum == 0) {
        throw std::invalid_argument("unknown signal \"" + args->signal + "\"");
      }
      pid_t group = send_signal(run, *signum);
      context.log->info("sent {} to run {} (group {})", signal_name(*signum), run.run_id(), group);
      print_result(run, {signal_name(*signum)}, args->json);
      context.exit_code = 0;
      return;
    }
    auto grace = parse_duration(args->grace);
    if (!grace) {
      throw std::invalid_argument("--grace \"" + args->grace
                                  + "\": expected a duration such as 10s");
    }
    if (is_far_run(run.read_state_resolving_lost())) {
      // The far chaperone does TERM, grace, KILL itself: it works even if the link drops
      // in between.
      queue_far_request(run, {"--grace", std::to_string(grace->count()) + "ms"});
      if (!wait_final(run, *grace + std::chrono::seconds(10), context)) {
        context.log->warn("run {}: the far side has not confirmed the end yet; the kill stays "
                          "queued and is carried out there once the link is back",
                          run.run_id());
      }
      context.exit_code = 0;
      return;
    }
    send_signal(run, SIGTERM);
    std::vector<std::string> sent{signal_name(SIGTERM)};
    if (!wait_final(run, *grace, context)) {
      context.log->warn(
          "run {} still running {} after SIGTERM: sending SIGKILL", run.run_id(), args->grace);
      try {
        signal_run(run, SIGKILL);
        sent.push_back(signal_name(SIGKILL));
      } catch (const std::runtime_error& e) {
        // It may have ended between the wait and the KILL; anything else is an error.
        if (!spool::is_final(run.read_state_resolving_lost().state)) {
          throw;
        }
      }
      // Return once the end is recorded, so `kill` then `status` shows it.
      wait_final(run, *grace, context);
    }
    print_result(run, sent, args->json);
    context.exit_code = 0;
  });
}

} // namespace chaperone
