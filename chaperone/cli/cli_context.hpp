// chaperone/cli_context.hpp: what every CLI command shares (logger, spool location).
#pragma once

#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace chaperone {

struct CliContext {
  std::shared_ptr<spdlog::logger> log;
  char** envp = nullptr;
  int exit_code = 0; // set by the command that ran
  // `run`/`cmd`: the words after the first `--`, kept away from CLI11, which would read a
  // word like "[a,b]" as a list (and drop "[]").
  std::vector<std::string> program_argv;
  // --spool DIR (any command): the spool root, over CHAPERONE_SPOOL and the defaults.
  std::string spool_dir;

  // The spool root from --spool / CHAPERONE_SPOOL / XDG_STATE_HOME / HOME. With create = false and
  // no root yet, returns nullopt (there are no runs).
  std::optional<spool::SpoolRoot> open_spool(bool create) const;
  // Resolves a run by id, name or unique prefix; throws CliError (kind no_such_run or
  // ambiguous) or std::invalid_argument (not a run id) otherwise.
  spool::RunDir find_run(const std::string& text) const;
};

// `run`'s common shapes without CLI11, whose building of run's ~40 options and parse are a
// fifth of a `run -d` (docs/bench/LAUNCH-2026-12-03d.md): `run [-d|--detach] [--json]
// [--name NAME|--name=NAME] -- PROGRAM [ARGS...]`, each at most once, as argv[1] on. Runs the
// command and returns true, or returns false having done nothing (any other call, which
// then goes to the full parser). Throws what the command throws.
bool run_plain_command(int argc, char** argv, CliContext& context);

// Each adds one subcommand; its callback sets context.exit_code.
void add_run_command(CLI::App& app, CliContext& context);
void add_attach_command(CLI::App& app, CliContext& context);
void add_tail_command(CLI::App& app, CliContext& context);
void add_wait_command(CLI::App& app, CliContext& context);
void add_status_command(CLI::App& app, CliContext& context);
void add_ls_command(CLI::App& app, CliContext& context);
void add_kill_command(CLI::App& app, CliContext& context);
void add_cmd_command(CLI::App& app, CliContext& context);
void add_agent_command(CLI::App& app, CliContext& context);
void add_gc_command(CLI::App& app, CliContext& context);
void add_show_command(CLI::App& app, CliContext& context);
void add_watch_command(CLI::App& app, CliContext& context);
// Hidden: words for the shell completions.
void add_complete_command(CLI::App& app, CliContext& context);

} // namespace chaperone
