// chaperone/command_status.cpp: `chaperone status ID [--json]`.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/cursor.hpp"
#include "chaperone/cli/run_summary.hpp"
#include "chaperone/supervisor/signal_name.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace chaperone {

void add_status_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string run;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Print a run's state (--json: state.json, with live output sizes, the cursor and run_dir)");
  cmd->add_option("run", args->run, "Run id, name or unique id prefix")->required();
  cmd->add_flag("--json", args->json, "Print the state as JSON");
  cmd->callback([args, &context] {
    spool::RunDir run = context.find_run(args->run);
    spool::RunState state = run.read_state_resolving_lost();
    // state.json's output counts are the final lengths once the run is final. Before that
    // they are not kept up to date (the program writes straight into the files, bypassing
    // the supervisor), so the files themselves say how much there is now.
    if (!spool::is_final(state.state)) {
      state.stdout_bytes = run.stream_size(spool::Stream::out);
      state.stderr_bytes = run.stream_size(spool::Stream::err);
    }
    std::string cursor = format_cursor(Cursor{state.stdout_bytes, state.stderr_bytes});
    if (args->json) {
      nlohmann::json out = state.to_json();
      out["cursor"] = cursor;
      out["run_dir"] = run.path().string();
      (void)std::printf("%s\n",
                        out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      context.exit_code = 0;
      return;
    }
    auto line = [](const char* key, const std::string& value) {
      (void)std::printf("%-10s %s\n", key, value.c_str());
    };
    line("run", state.run_id);
    line("state", spool::to_string(state.state));
    if (spool::is_final(state.state)) {
      line("exit", std::to_string(state.cli_exit_code()));
    }
    if (state.signal) {
      line("signal", signal_name(*state.signal));
    }
    if (state.error) {
      line("error", *state.error);
    }
    line("command", command_line_for_display(state.program.value("argv", nlohmann::json::array())));
    line(
        "target",
        state.target.value("mode", "local")
            + (state.target.contains("host") ? " " + state.target["host"].get<std::string>() : ""));
    if (state.pid) {
      line("pid", std::to_string(*state.pid));
    }
    line("started", time_for_display(state.start_time));
    line("ended", time_for_display(state.end_time));
    line("duration", duration_for_display(state));
    line("stdout", std::to_string(state.stdout_bytes) + " bytes");
    line("stderr", std::to_string(state.stderr_bytes) + " bytes");
    line("cursor", cursor);
    line("dir", run.path().string());
    context.exit_code = 0;
  });
}

} // namespace chaperone
