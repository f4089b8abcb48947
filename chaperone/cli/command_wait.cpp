// chaperone/command_wait.cpp: `chaperone wait [--any|--all] [--json] ID...` - block until
// runs are final.
#include "chaperone/cli/attach_session.hpp"
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/end_report.hpp"
#include "spool/run_index.hpp"
#include "spool/spool_watch.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <set>
#include <stdexcept>

namespace chaperone {

namespace {

struct WaitArgs {
  std::vector<std::string> runs;
  bool any = false;
  bool all = false;
  bool json = false;
};

void print_summary(const spool::RunState& state) {
  std::string line =
      spool::summarize(state).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)std::printf("%s\n", line.c_str());
  (void)std::fflush(stdout);
}

} // namespace

void add_wait_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<WaitArgs>();
  CLI::App* cmd = app.add_subcommand(
      "wait",
      "Wait until every run is final; exit with the first non-zero exit code among them (in "
      "argument order), else 0");
  cmd->add_option("runs", args->runs, "Run ids, names or unique id prefixes")->required();
  CLI::Option* any = cmd->add_flag(
      "--any", args->any, "Return when the first run is final: print its id, exit with its code");
  cmd->add_flag("--all", args->all, "Wait for every run (the default)")->excludes(any);
  cmd->add_flag("--json",
                args->json,
                "Print each run's final summary as one JSON line when it ends (as `ls --json`)");
  cmd->callback([args, &context] {
    // Resolve every name first, so a typo fails at once rather than after a long wait.
    std::vector<spool::RunDir> dirs;
    for (const std::string& text : args->runs) {
      dirs.push_back(context.find_run(text));
    }
    std::optional<spool::SpoolRoot> root = context.open_spool(false);
    if (!root) {
      throw std::runtime_error("no spool"); // find_run found runs, so this cannot happen
    }
    // The first look comes before any inotify instance: a run already final needs none, and
    // the last close of an instance holding watches waits for the kernel's mark reaper (an
    // SRCU grace period: 5-15 ms on this machine, more than the rest of a `wait` of an
    // ended run). Only if a run is still going do we subscribe, then look again, so that no
    // end falls between the look and the subscription.
    std::optional<spool::SpoolWatch> watch;
    std::vector<std::optional<int>> codes(dirs.size());
    size_t done = 0;
    std::set<std::string> changed;
    bool look_at_all = true;
    for (;;) {
      for (size_t i = 0; i < dirs.size(); ++i) {
        if (codes[i] || (!look_at_all && changed.count(dirs[i].run_id()) == 0)) {
          continue;
        }
        spool::RunState state = dirs[i].read_state_resolving_lost();
        if (!spool::is_final(state.state)) {
          continue;
        }
        codes[i] = state.cli_exit_code();
        ++done;
        if (watch) {
          // Nothing more to see here: its watches are taken off now, so the reaper frees
          // them while we wait for the supervisor to let go, not in our exit (above).
          watch->remove_run(dirs[i].run_id());
        }
        wait_for_supervisor_to_let_go(dirs[i], context, KnownRunEnd{true, std::nullopt});
        // 125 is also chaperone's own failure (and 124 its timeout): say which it is.
        report_end(dirs[i], state, *context.log);
        if (args->json) {
          print_summary(state);
        }
        if (args->any) {
          if (!args->json) {
            (void)std::printf("%s\n", dirs[i].run_id().c_str());
          }
          context.exit_code = *codes[i];
          return;
        }
      }
      if (done == dirs.size()) {
        break;
      }
      if (!watch) {
        watch.emplace(*root, false, false);
        for (size_t i = 0; i < dirs.size(); ++i) {
          if (!codes[i] && !watch->add_run(dirs[i].run_id())) {
            throw std::runtime_error("run " + dirs[i].run_id() + " was removed");
          }
        }
        look_at_all = true; // the look after subscribing
        continue;
      }
      look_at_all = false;
      spool::SpoolChanges changes = watch->next(std::nullopt);
      for (const std::string& gone : changes.gone) {
        throw std::runtime_error("run " + gone + " was removed while waiting for it");
      }
      changed = std::move(changes.runs);
    }
    int result = 0;
    for (const std::optional<int>& code : codes) {
      if (result == 0) {
        result = *code;
      }
    }
    context.exit_code = result;
  });
}

} // namespace chaperone
