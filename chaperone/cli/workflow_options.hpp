// chaperone/cli/workflow_options.hpp: `run` options that order and gate a run (--lock,
// --slots, --after, --after-ok, --lock-timeout, --no-wait, --on-exit).
#pragma once

#include "chaperone/cli/cli_context.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace chaperone {

struct WorkflowArgs {
  std::vector<std::string> locks; // NAME or NAME:shared
  std::vector<std::string> slots; // NAME=N
  std::vector<std::string> after;
  std::vector<std::string> after_ok;
  std::string lock_timeout;
  bool no_wait = false;
  std::string on_exit;
};

void add_workflow_options(CLI::App* cmd, WorkflowArgs* args);

// Checks the options and turns them into spec.config members (LaunchRequest::workflow);
// --after ids are resolved to full ids here, so a typo fails before anything is created.
// Throws std::invalid_argument / std::runtime_error naming the problem.
nlohmann::json workflow_config(const WorkflowArgs& args, const CliContext& context);

} // namespace chaperone
