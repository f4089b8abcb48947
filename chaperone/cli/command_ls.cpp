// chaperone/command_ls.cpp: `chaperone ls [--json] [filters]` - runs, newest first.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/run_filter.hpp"
#include "chaperone/cli/run_summary.hpp"
#include "chaperone/client/callback_files.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <cstdio>

namespace chaperone {

namespace {

void pad_right(std::string& out, std::string_view text, size_t width) {
  out.append(text);
  if (text.size() < width) {
    out.append(width - text.size(), ' ');
  }
}

void pad_left(std::string& out, std::string_view text, size_t width) {
  if (text.size() < width) {
    out.append(width - text.size(), ' ');
  }
  out.append(text);
}

struct LsArgs {
  bool json = false;
  RunFilter filter;
  std::string since;
  std::string until;
  int limit = -1;
};

} // namespace

void add_ls_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* cmd = app.add_subcommand("ls", "List runs, newest first");
  cmd->add_flag("--json",
                args->json,
                "Print a JSON array of summaries (run_id, state, exit_code, return_code, signal, "
                "start_time, end_time, error, command, target, cwd, output {stdout, stderr} "
                "bytes, duration_s, waiting_for, run_dir); `status --json` has the full state");
  cmd->add_option("--state",
                  args->filter.states,
                  "Only runs in STATE (repeatable; `final` = any final state)")
      ->allow_extra_args(false);
  cmd->add_option("--name", args->filter.name_glob, "Only runs whose id matches GLOB (fnmatch)");
  cmd->add_option(
      "--since", args->since, "Only runs started at or after TIME (3d = 3 days ago, or UTC ISO)");
  cmd->add_option("--until", args->until, "Only runs started at or before TIME");
  cmd->add_option("--limit", args->limit, "At most N runs (the newest)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, &context] {
    RunFilter filter = args->filter;
    filter.check_states();
    auto now = std::chrono::system_clock::now();
    if (!args->since.empty()) {
      filter.since = parse_time_bound("--since", args->since, now);
    }
    if (!args->until.empty()) {
      filter.until = parse_time_bound("--until", args->until, now);
    }
    std::unique_ptr<Listing> listing;
    std::vector<const ListedRun*> rows;
    std::optional<spool::SpoolRoot> root = context.open_spool(false);
    if (root) {
      // One readdir of <root>/.callbacks: runs whose callbacks a killed sender left undelivered.
      ensure_callback_senders(root->path(), default_callback_sender_path());
      listing = list_for_ls(*root);
      context.log->debug(
          "ls: {} runs, stat on {} thread(s)", listing->runs.size(), listing->threads);
      for (const ListedRun& row : listing->runs) {
        if (args->limit >= 0 && static_cast<int>(rows.size()) >= args->limit) {
          break;
        }
        if (filter.matches(row.state, row.run_id, row.start_time, row.end_time)) {
          rows.push_back(&row);
        }
      }
    }
    if (args->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const ListedRun* row : rows) {
        nlohmann::json summary = row->to_summary(*root);
        summary["run_dir"] = (root->path() / std::string(row->run_id)).string();
        out.push_back(std::move(summary));
      }
      (void)std::printf("%s\n",
                        out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      context.exit_code = 0;
      return;
    }
    std::string out = "ID                                   STATE     EXIT  START                "
                      "DURATION  COMMAND\n";
    // Written a megabyte at a time: one buffer for 100,000 rows would be 10 MB more to fault in.
    constexpr size_t k_flush_bytes = 1 << 20;
    out.reserve(k_flush_bytes + 4096);
    for (const ListedRun* row : rows) {
      std::string duration;
      if (row->state == "damaged") {
        duration = "-";
      } else if (row->indexed != nullptr) {
        duration = duration_for_display(row->duration_s); // final: fixed when it ended
      } else {
        spool::RunState shown;
        shown.start_time = row->start_time;
        shown.end_time = row->end_time;
        if (auto status = spool::parse_run_status(std::string(row->state))) {
          shown.state = *status;
        }
        duration = duration_for_display(shown);
      }
      std::string exit = row->exit_code ? std::to_string(*row->exit_code) : "-";
      std::string_view command = row->command.substr(0, row->command.find('\0'));
      // "%-36s %-9s %4s  %-19s %9s  %s\n", without printf's cost per row (100,000 rows).
      pad_right(out, row->run_id, 36);
      out += ' ';
      pad_right(out, row->state, 9);
      out += ' ';
      pad_left(out, exit, 4);
      out += "  ";
      if (row->start_time.size() < 19) {
        pad_right(out, "-", 19);
      } else {
        out.append(row->start_time.substr(0, 10)).append(" ").append(row->start_time.substr(11, 8));
      }
      out += ' ';
      pad_left(out, duration, 9);
      out += "  ";
      if (command.size() > 80) {
        out.append(command.substr(0, 77)).append("...");
      } else {
        out.append(command);
      }
      out += '\n';
      if (out.size() >= k_flush_bytes) {
        (void)std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    (void)std::fwrite(out.data(), 1, out.size(), stdout);
    context.exit_code = 0;
  });
}

} // namespace chaperone
