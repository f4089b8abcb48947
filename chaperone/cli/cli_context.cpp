// chaperone/cli_context.cpp: spool location and run lookup for the CLI.
#include "chaperone/cli/cli_context.hpp"

#include "chaperone/cli/cli_error.hpp"
#include "chaperone/client/callback_files.hpp"
#include "spool/printable.hpp"
#include "spool/run_id.hpp"
#include "spool/run_list.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace chaperone {

namespace {

void restart_callback_sender(const spool::RunDir& run,
                             const std::filesystem::path& root,
                             const std::shared_ptr<spdlog::logger>& log) {
  // Callbacks survive a killed sender: whoever looks at the run next restarts it (README
  // "For schedulers"). A failure here must not fail the command that looks.
  std::string problem = ensure_callback_sender(run, root, default_callback_sender_path());
  if (!problem.empty() && log) {
    log->warn("{}", problem);
  }
}

} // namespace

std::optional<spool::SpoolRoot> CliContext::open_spool(bool create) const {
  std::string chosen = spool_dir;
  if (!chosen.empty() && chosen[0] != '/') {
    chosen = (std::filesystem::current_path() / chosen).lexically_normal().string();
  }
  std::filesystem::path path =
      spool::default_spool_root(chosen.empty() ? std::getenv("CHAPERONE_SPOOL") : chosen.c_str(),
                                std::getenv("XDG_STATE_HOME"),
                                std::getenv("HOME"));
  try {
    return spool::SpoolRoot::open(path, create);
  } catch (const std::system_error& e) {
    if (!create && e.code().value() == ENOENT) {
      return std::nullopt;
    }
    throw;
  }
}

spool::RunDir CliContext::find_run(const std::string& text) const {
  if (auto problem = spool::run_id_problem(text)) {
    throw std::invalid_argument("bad run id \"" + spool::printable(text) + "\": " + *problem);
  }
  std::optional<spool::SpoolRoot> root = open_spool(false);
  if (!root) {
    throw CliError("no_such_run", "no such run: " + text + " (the spool is empty)");
  }
  std::optional<spool::RunDir> run;
  try {
    run = spool::lookup_run(*root, text); // no match is a value, not an error
  } catch (const std::runtime_error& e) {
    // The id was checked above, so what is left is a prefix with several matches, or
    // something at the exact name that is no run dir (a planted symlink): only the first is
    // a refusal a script branches on.
    std::error_code ignored;
    if (std::filesystem::symlink_status(root->path() / text, ignored).type()
        != std::filesystem::file_type::not_found) {
      throw;
    }
    throw CliError("ambiguous", e.what());
  }
  if (!run) {
    throw CliError("no_such_run", "no such run: " + spool::printable(text));
  }
  restart_callback_sender(*run, root->path(), log);
  return *run;
}

} // namespace chaperone
