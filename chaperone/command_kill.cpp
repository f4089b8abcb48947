// chaperone/command_kill.cpp: `chaperone kill ID [-s SIGNAL]`.
#include "chaperone/cli_context.hpp"
#include "chaperone/signal_name.hpp"
#include "chaperone/signal_run.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <signal.h>

#include <stdexcept>

namespace chaperone {

void add_kill_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    std::string signal = "TERM";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("kill", "Send a signal (default TERM) to a run's process group");
  cmd->add_option("run", args->run, "Run id, name or unique id prefix")->required();
  cmd->add_option("-s,--signal", args->signal, "Signal name or number (TERM, KILL, INT, 9, ...)");
  cmd->callback([args, &context] {
    auto signum = parse_signal(args->signal);
    if (!signum || *signum == 0) {
      throw std::invalid_argument("unknown signal \"" + args->signal + "\"");
    }
    spool::RunDir run = context.find_run(args->run);
    pid_t group = signal_run(run, *signum);
    context.log->info("sent {} to run {} (group {})", signal_name(*signum), run.run_id(), group);
    context.exit_code = 0;
  });
}

} // namespace chaperone
