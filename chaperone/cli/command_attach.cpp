// chaperone/command_attach.cpp: `chaperone attach ID` - stream a run's output, then its exit code.
#include "chaperone/cli/attach_session.hpp"
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/cursor.hpp"
#include "chaperone/cli/tail_offset.hpp"

#include <CLI/CLI.hpp>

namespace chaperone {

void add_attach_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    std::optional<std::string> from_cursor;
    std::optional<std::uint64_t> stdout_offset;
    std::optional<std::uint64_t> stderr_offset;
    std::optional<std::uint64_t> tail_lines;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "attach",
      "Stream a run's output from the start (or an offset) until it ends; exit with its code");
  cmd->add_option("run", args->run, "Run id, name or unique id prefix")->required();
  auto* from =
      cmd->add_option("--from-offset,--from",
                      args->from_cursor,
                      "Start at CURSOR STDOUT:STDERR (byte offsets, as `status` prints "
                      "it, e.g. 7680:12); 0 is the start of both")
          ->check(
              [](const std::string& text) { return cursor_problem(text).value_or(std::string()); },
              "CURSOR");
  cmd->add_option("--stdout-offset", args->stdout_offset, "Start stdout at byte N")->excludes(from);
  cmd->add_option("--stderr-offset", args->stderr_offset, "Start stderr at byte N")->excludes(from);
  cmd->add_option("--tail", args->tail_lines, "Start each stream N lines before its current end")
      ->excludes(from);
  cmd->add_flag("--json",
                args->json,
                "Write JSON lines: output events with stream and offset, state changes, and a "
                "final event with the state (README \"Event stream\")");
  cmd->callback([args, &context] {
    spool::RunDir run = context.find_run(args->run);
    AttachOptions options;
    if (args->from_cursor) {
      // Checked by the validator above: a parse here cannot fail.
      Cursor cursor = parse_cursor(*args->from_cursor).value_or(Cursor{});
      options.stdout_offset = cursor.stdout_offset;
      options.stderr_offset = cursor.stderr_offset;
    }
    if (args->stdout_offset) {
      options.stdout_offset = *args->stdout_offset;
    }
    if (args->stderr_offset) {
      options.stderr_offset = *args->stderr_offset;
    }
    if (args->tail_lines) {
      options.stdout_offset =
          offset_of_last_lines(run.stream_path(spool::Stream::out), *args->tail_lines);
      options.stderr_offset =
          offset_of_last_lines(run.stream_path(spool::Stream::err), *args->tail_lines);
    }
    options.json = args->json;
    KnownRunEnd known;
    context.exit_code = attach_to_run(run, options, context, &known);
    wait_for_supervisor_to_let_go(run, context, known);
  });
}

} // namespace chaperone
