// chaperone/cli/command_gc.cpp: `chaperone gc` - remove old final runs.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/duration.hpp"
#include "chaperone/cli/garbage.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <stdexcept>

namespace chaperone {

namespace {

struct GcArgs {
  std::string older_than;
  int keep = -1;
  std::vector<std::string> states;
  bool dry_run = false;
  bool prune_output = false;
};

} // namespace

void add_gc_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<GcArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gc",
      "Remove final runs (never a live or followed one) and the hidden leftovers of killed "
      "callers");
  cmd->add_option(
      "--older-than", args->older_than, "Only runs that ended more than DURATION ago (3d, 12h)");
  cmd->add_option("--keep", args->keep, "Keep the N newest of the selected runs")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--state", args->states, "Only runs in STATE (repeatable; a final state)")
      ->allow_extra_args(false);
  cmd->add_flag("--dry-run", args->dry_run, "Say what would be removed; change nothing");
  cmd->add_flag("--prune-output",
                args->prune_output,
                "Keep spec.json and state.json, drop the output files (state.json notes their "
                "sizes in output_pruned) and the earlier states kept beside state.json");
  cmd->callback([args, &context] {
    GcOptions options;
    if (!args->older_than.empty()) {
      options.older_than = parse_duration(args->older_than);
      if (!options.older_than) {
        throw std::invalid_argument("--older-than \"" + args->older_than
                                    + "\": expected a duration such as 3d or 12h");
      }
    }
    if (args->keep >= 0) {
      options.keep = static_cast<size_t>(args->keep);
    }
    options.filter.states = args->states;
    options.filter.check_states();
    for (const std::string& state : args->states) {
      auto status = spool::parse_run_status(state);
      if (state != "final" && (!status || !spool::is_final(*status))) {
        throw std::invalid_argument("--state " + state + ": gc removes final runs only");
      }
    }
    options.dry_run = args->dry_run;
    options.prune_output = args->prune_output;
    std::optional<spool::SpoolRoot> root = context.open_spool(false);
    context.exit_code = 0;
    if (!root) {
      return;
    }
    GcReport report = collect_garbage(
        *root, options, [](const std::string& line) { (void)std::printf("%s\n", line.c_str()); });
    (void)std::printf("%s %zu, pruned %zu, busy %zu, temp dirs %zu, %llu bytes\n",
                      args->dry_run ? "would remove" : "removed",
                      report.removed,
                      report.pruned,
                      report.skipped_busy,
                      report.temp_dirs,
                      static_cast<unsigned long long>(report.bytes));
  });
}

} // namespace chaperone
