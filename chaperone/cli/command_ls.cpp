// chaperone/command_ls.cpp: `chaperone ls [--json]` - all runs, newest first.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/run_summary.hpp"
#include "spool/run_index.hpp"
#include "spool/run_list.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <cstdio>

namespace chaperone {

namespace {

// Final runs come from the spool's index (one file for all of them); the others - still
// running, not yet indexed, or changed since - from their own state.json and spec.json,
// with lost supervisors resolved.
std::vector<nlohmann::json> collect_summaries(const spool::SpoolRoot& root) {
  std::unordered_map<std::string, spool::IndexedRun> index = spool::read_index(root);
  std::vector<nlohmann::json> rows;
  for (spool::RunEntry& entry : spool::list_runs(root)) {
    spool::RunDir run(root.path() / entry.run_id, entry.run_id);
    auto indexed = index.find(entry.run_id);
    if (indexed != index.end() && indexed->second.dir_inode == entry.dir_inode
        && spool::index_entry_current(run, indexed->second)) {
      rows.push_back(std::move(indexed->second.summary));
      continue;
    }
    try {
      nlohmann::json row = spool::summarize(run.read_state_resolving_lost());
      // What was asked matters as much as what happened: a run whose spec.json is lost or
      // truncated is damaged too.
      (void)run.read_spec();
      rows.push_back(std::move(row));
    } catch (const std::exception& e) {
      // One damaged run must not hide the others.
      rows.push_back({{"run_id", entry.run_id}, {"state", "damaged"}, {"error", e.what()}});
    }
  }
  return rows;
}

std::string text(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

void add_ls_command(CLI::App& app, CliContext& context) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("ls", "List runs, newest first");
  cmd->add_flag("--json",
                *json,
                "Print a JSON array of summaries (run_id, state, exit_code, return_code, signal, "
                "start_time, end_time, error, command); `status --json` has the full state");
  cmd->callback([json, &context] {
    std::vector<nlohmann::json> rows;
    if (std::optional<spool::SpoolRoot> root = context.open_spool(false)) {
      rows = collect_summaries(*root);
    }
    // Sort keys pulled out once: comparing through the JSON objects costs more than all the
    // reading.
    std::vector<std::pair<std::string, std::string>> keys;
    keys.reserve(rows.size());
    for (const nlohmann::json& row : rows) {
      // No start time yet (still starting, or lost before its program ran): it was created
      // last, so it sorts as the newest ('~' after every digit).
      std::string start = text(row, "start_time");
      keys.emplace_back(start.empty() ? "~" : start, text(row, "run_id"));
    }
    std::vector<size_t> order(rows.size());
    for (size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] > keys[b]; });
    std::vector<nlohmann::json> sorted;
    sorted.reserve(rows.size());
    for (size_t i : order) {
      sorted.push_back(std::move(rows[i]));
    }
    rows = std::move(sorted);
    if (*json) {
      nlohmann::json out = rows;
      (void)std::printf("%s\n",
                        out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      context.exit_code = 0;
      return;
    }
    std::string out = "ID                                   STATE     EXIT  START                "
                      "DURATION  COMMAND\n";
    char line[512];
    for (const nlohmann::json& row : rows) {
      spool::RunState shown;
      shown.start_time = text(row, "start_time");
      shown.end_time = text(row, "end_time");
      std::string state = text(row, "state");
      if (auto status = spool::parse_run_status(state)) {
        shown.state = *status;
      }
      auto exit_code = row.find("exit_code");
      std::string exit = exit_code != row.end() && exit_code->is_number()
                             ? std::to_string(exit_code->get<int>())
                             : "-";
      std::string command = state == "damaged" ? text(row, "error") : text(row, "command");
      if (command.size() > 80) {
        command = command.substr(0, 77) + "...";
      }
      (void)std::snprintf(line,
                          sizeof line,
                          "%-36s %-9s %4s  %-19s %9s  %s\n",
                          text(row, "run_id").c_str(),
                          state.c_str(),
                          exit.c_str(),
                          time_for_display(shown.start_time).c_str(),
                          state == "damaged" ? "-" : duration_for_display(shown).c_str(),
                          command.c_str());
      out += line;
    }
    (void)std::fwrite(out.data(), 1, out.size(), stdout);
    context.exit_code = 0;
  });
}

} // namespace chaperone
