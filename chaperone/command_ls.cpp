// chaperone/command_ls.cpp: `chaperone ls [--json]` - all runs, newest first.
#include "chaperone/cli_context.hpp"
#include "chaperone/run_summary.hpp"
#include "spool/run_list.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <cstdio>

namespace chaperone {

namespace {

struct Row {
  std::string run_id;
  std::optional<spool::RunState> state; // nullopt: damaged
  std::string damage;
  std::string sort_key; // when the run began: its start time, else its creation time
};

// A run that is still `starting` (or was lost or failed before its program started) has no
// start time yet; it is nonetheless the newest, so fall back to spec.json's creation time
// rather than sorting it after every run that did start.
std::string sort_key_of(const spool::RunDir& run, const spool::RunState& state) {
  if (!state.start_time.empty()) {
    return state.start_time;
  }
  try {
    return run.read_spec().value("created", std::string());
  } catch (const std::exception&) {
    return {};
  }
}

} // namespace

void add_ls_command(CLI::App& app, CliContext& context) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("ls", "List runs, newest first");
  cmd->add_flag("--json", *json, "Print a JSON array of states");
  cmd->callback([json, &context] {
    std::vector<Row> rows;
    if (std::optional<spool::SpoolRoot> root = context.open_spool(false)) {
      for (std::string& id : spool::list_run_ids(*root)) {
        spool::RunDir run(root->path() / id, id);
        Row row{id, std::nullopt, {}, {}};
        try {
          row.state = run.read_state_resolving_lost();
          row.sort_key = sort_key_of(run, *row.state);
        } catch (const std::exception& e) {
          // One damaged run must not hide the others.
          row.damage = e.what();
        }
        rows.push_back(std::move(row));
      }
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return a.sort_key != b.sort_key ? a.sort_key > b.sort_key : a.run_id > b.run_id;
    });
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const Row& row : rows) {
        out.push_back(row.state ? row.state->to_json()
                                : nlohmann::json{{"run_id", row.run_id},
                                                 {"state", "damaged"},
                                                 {"error", row.damage}});
      }
      std::printf("%s\n",
                  out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      context.exit_code = 0;
      return;
    }
    std::printf(
        "%-36s %-9s %4s  %-19s %9s  %s\n", "ID", "STATE", "EXIT", "START", "DURATION", "COMMAND");
    for (const Row& row : rows) {
      if (!row.state) {
        std::printf("%-36s %-9s %4s  %-19s %9s  %s\n",
                    row.run_id.c_str(),
                    "damaged",
                    "-",
                    "-",
                    "-",
                    row.damage.c_str());
        continue;
      }
      const spool::RunState& s = *row.state;
      std::string exit = spool::is_final(s.state) ? std::to_string(s.cli_exit_code()) : "-";
      std::string command =
          command_line_for_display(s.program.value("argv", nlohmann::json::array()));
      if (command.size() > 80) {
        command = command.substr(0, 77) + "...";
      }
      std::printf("%-36s %-9s %4s  %-19s %9s  %s\n",
                  row.run_id.c_str(),
                  spool::to_string(s.state).c_str(),
                  exit.c_str(),
                  time_for_display(s.start_time).c_str(),
                  duration_for_display(s).c_str(),
                  command.c_str());
    }
    context.exit_code = 0;
  });
}

} // namespace chaperone
