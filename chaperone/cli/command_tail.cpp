// chaperone/command_tail.cpp: `chaperone tail [-f] [-n N] [--stream S] ID`, like tail(1).
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/end_report.hpp"
#include "chaperone/cli/tail_offset.hpp"
#include "spool/follower.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

namespace chaperone {

void add_tail_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    bool follow = false;
    std::uint64_t lines = 10;
    std::string stream = "stdout";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "tail",
      "Print the last lines of a run's output (exit 0); -f follows it to the end and exits with "
      "the run's exit code");
  cmd->add_option("run", args->run, "Run id, name or unique id prefix")->required();
  cmd->add_flag("-f,--follow",
                args->follow,
                "Keep printing output until the run ends; then exit with its exit code");
  cmd->add_option("-n,--lines", args->lines, "Start N lines before the end (default 10)");
  cmd->add_option("--stream", args->stream, "stdout (default) or stderr")
      ->check(CLI::IsMember({"stdout", "stderr"}));
  cmd->callback([args, &context] {
    spool::RunDir run = context.find_run(args->run);
    spool::Stream stream = args->stream == "stderr" ? spool::Stream::err : spool::Stream::out;
    spool::FollowOptions follow;
    follow.want_stdout = stream == spool::Stream::out;
    follow.want_stderr = stream == spool::Stream::err;
    std::uint64_t offset = offset_of_last_lines(run.stream_path(stream), args->lines);
    follow.stdout_offset = follow.stderr_offset = offset;
    follow.follow = args->follow;
    follow.logger = context.log;
    // Both streams go to our stdout: tail prints the one chosen stream as data.
    spool::FdSink sink(STDOUT_FILENO, STDOUT_FILENO);
    spool::Follower follower(run, follow, sink);
    spool::RunState state;
    try {
      state = follower.run();
    } catch (const std::system_error& e) {
      if (e.code().value() != EPIPE) {
        throw;
      }
      context.exit_code = 128 + SIGPIPE;
      return;
    }
    if (!args->follow) {
      context.exit_code = 0; // a look at the output so far, like tail(1)
      return;
    }
    // -f followed the run to its end: exit as it did, like attach, so that a script can
    // tell from `tail -f` alone whether the run went well.
    report_end(run, state, *context.log);
    context.exit_code = state.cli_exit_code();
  });
}

} // namespace chaperone
