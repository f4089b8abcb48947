// chaperone/cli_context.cpp: spool location and run lookup for the CLI.
#include "chaperone/cli/cli_context.hpp"

#include "chaperone/client/callback_files.hpp"
#include "spool/run_list.hpp"

#include <spdlog/logger.h>

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
  std::filesystem::path path = spool::default_spool_root(
      std::getenv("CHAPERONE_SPOOL"), std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
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
  std::optional<spool::SpoolRoot> root = open_spool(false);
  if (!root) {
    throw std::runtime_error("no such run: " + text + " (the spool is empty)");
  }
  spool::RunDir run = spool::find_run(*root, text);
  restart_callback_sender(run, root->path(), log);
  return run;
}

} // namespace chaperone
