// chaperone/cli/workflow_options.cpp: see workflow_options.hpp.
#include "chaperone/cli/workflow_options.hpp"

#include "chaperone/cli/duration.hpp"
#include "spool/printable.hpp"
#include "spool/run_id.hpp"

#include <CLI/CLI.hpp>

#include <map>
#include <stdexcept>

namespace chaperone {

namespace {

// Lock and slot names become file names under <root>/.locks: the run-id alphabet.
void check_name(const std::string& option, const std::string& name) {
  if (auto problem = spool::run_id_problem(name)) {
    throw std::invalid_argument(option + " \"" + spool::printable(name) + "\": " + *problem);
  }
}

} // namespace

void add_workflow_options(CLI::App* cmd, WorkflowArgs* args) {
  cmd->add_option("--lock",
                  args->locks,
                  "Hold lock NAME (exclusive) or NAME:shared while the program runs; wait for "
                  "it in state `waiting`, first come first served; an --after/--after-ok run "
                  "gets it handed over from the run it follows (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--slots",
                  args->slots,
                  "NAME=N: at most N runs with this slot name run at once, first come first "
                  "served (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option(
         "--after", args->after, "Start the program when run ID has ended, however (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--after-ok",
                  args->after_ok,
                  "Start the program only if run ID exits 0, else end `skipped` (repeatable)")
      ->allow_extra_args(false);
  CLI::Option* no_wait = cmd->add_flag(
      "--no-wait", args->no_wait, "Give up at once if a lock or slot is taken: `skipped`, exit 75");
  cmd->add_option("--lock-timeout",
                  args->lock_timeout,
                  "Give up waiting for locks and slots after DURATION: `skipped`, exit 75")
      ->excludes(no_wait);
  cmd->add_option("--on-exit",
                  args->on_exit,
                  "Run CMD (/bin/sh -c) once the final state is written, with CHAPERONE_RUN_ID, "
                  "CHAPERONE_RUN_DIR, CHAPERONE_EXIT_CODE, CHAPERONE_STATE set");
}

nlohmann::json workflow_config(const WorkflowArgs& args, const CliContext& context) {
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, std::string> locks;
  for (const std::string& text : args.locks) {
    std::string name = text;
    std::string mode = "exclusive";
    if (size_t colon = text.find(':'); colon != std::string::npos) {
      name = text.substr(0, colon);
      mode = text.substr(colon + 1);
      if (mode != "shared" && mode != "exclusive") {
        throw std::invalid_argument("--lock \"" + spool::printable(text)
                                    + "\": expected NAME, NAME:shared or NAME:exclusive");
      }
    }
    check_name("--lock", name);
    if (locks.count(name) != 0 && locks[name] != mode) {
      throw std::invalid_argument("--lock " + name + " given both shared and exclusive");
    }
    locks[name] = mode;
  }
  if (!locks.empty()) {
    // Sorted by name: every run takes its locks in the same order, so two runs that want
    // the same two locks cannot each hold one and wait for the other.
    config["locks"] = nlohmann::json::array();
    for (const auto& [name, mode] : locks) {
      config["locks"].push_back({{"name", name}, {"mode", mode}});
    }
  }
  std::map<std::string, int> slots;
  for (const std::string& text : args.slots) {
    size_t eq = text.find('=');
    int count = 0;
    try {
      count = eq == std::string::npos ? 0 : std::stoi(text.substr(eq + 1));
    } catch (const std::exception&) {
      count = 0;
    }
    if (eq == std::string::npos || count < 1 || count > 1024) {
      throw std::invalid_argument("--slots \"" + spool::printable(text)
                                  + "\": expected NAME=N with N from 1 to 1024");
    }
    check_name("--slots", text.substr(0, eq));
    slots[text.substr(0, eq)] = count;
  }
  if (!slots.empty()) {
    config["slots"] = nlohmann::json::array();
    for (const auto& [name, count] : slots) {
      config["slots"].push_back({{"name", name}, {"count", count}});
    }
  }
  if (!args.after.empty() || !args.after_ok.empty()) {
    config["after"] = nlohmann::json::array();
    for (bool ok : {false, true}) {
      for (const std::string& text : ok ? args.after_ok : args.after) {
        config["after"].push_back({{"run_id", context.find_run(text).run_id()}, {"ok", ok}});
      }
    }
  }
  if (args.no_wait) {
    config["lock_timeout_ms"] = 0;
  } else if (!args.lock_timeout.empty()) {
    auto timeout = parse_duration(args.lock_timeout);
    if (!timeout) {
      throw std::invalid_argument("--lock-timeout \"" + args.lock_timeout
                                  + "\": expected a duration such as 30s or 5m");
    }
    config["lock_timeout_ms"] = timeout->count();
  }
  if (!args.on_exit.empty()) {
    config["on_exit"] = args.on_exit;
  }
  return config;
}

} // namespace chaperone
