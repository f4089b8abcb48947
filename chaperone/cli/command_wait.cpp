// chaperone/command_wait.cpp: `chaperone wait ID...` - block until final, exit with the code.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/end_report.hpp"
#include "spool/follower.hpp"

#include <CLI/CLI.hpp>

namespace chaperone {

void add_wait_command(CLI::App& app, CliContext& context) {
  auto runs = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "wait",
      "Wait until every run is final; exit with the first non-zero exit code among them (in "
      "argument order), else 0");
  cmd->add_option("runs", *runs, "Run ids, names or unique id prefixes")->required();
  cmd->callback([runs, &context] {
    // Resolve every name first, so a typo fails at once rather than after a long wait.
    std::vector<spool::RunDir> dirs;
    for (const std::string& text : *runs) {
      dirs.push_back(context.find_run(text));
    }
    int result = 0;
    for (const spool::RunDir& run : dirs) {
      spool::FollowOptions follow;
      follow.want_stdout = follow.want_stderr = false;
      follow.logger = context.log;
      spool::CallbackSink sink([](spool::Stream, std::string_view) {});
      spool::Follower follower(run, follow, sink);
      spool::RunState state = follower.run();
      report_end(run, state, *context.log);
      int code = state.cli_exit_code();
      if (result == 0) {
        result = code;
      }
    }
    context.exit_code = result;
  });
}

} // namespace chaperone
