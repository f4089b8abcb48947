// chaperone/cli/command_complete.cpp: `chaperone __complete WHAT [COMMAND]`, hidden: what the
// shell completions (and the man page test) ask the binary, so that neither keeps its own
// copy of the command line.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/run_list.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <stdexcept>

namespace chaperone {

namespace {

// One line per option name: NAME TAB (flag|value) TAB description.
void print_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional() || option->get_group().empty()) {
      continue;
    }
    const char* kind = option->get_expected_max() == 0 ? "flag" : "value";
    std::vector<std::string> names;
    for (const std::string& name : option->get_lnames()) {
      names.push_back("--" + name);
    }
    for (const std::string& name : option->get_snames()) {
      names.push_back("-" + name);
    }
    for (const std::string& name : names) {
      (void)std::printf("%s\t%s\t%s\n", name.c_str(), kind, option->get_description().c_str());
    }
  }
}

} // namespace

void add_complete_command(CLI::App& app, CliContext& context) {
  struct Args {
    std::string what;
    std::string command;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("__complete", "Words for shell completion");
  cmd->group(""); // hidden from --help: an interface for the completion scripts only
  cmd->add_option("what", args->what, "commands, options, positionals, runs or signals")
      ->required();
  cmd->add_option("command", args->command, "the command whose options are wanted");
  cmd->callback([args, &app, &context] {
    context.exit_code = 0;
    if (args->what == "commands") {
      for (const CLI::App* sub : app.get_subcommands({})) {
        if (!sub->get_group().empty()) {
          (void)std::printf("%s\t%s\n", sub->get_name().c_str(), sub->get_description().c_str());
        }
      }
    } else if (args->what == "options") {
      const CLI::App* target = &app;
      if (!args->command.empty()) {
        target = nullptr;
        for (const CLI::App* sub : app.get_subcommands({})) {
          target = sub->get_name() == args->command ? sub : target;
        }
        if (target == nullptr) {
          throw std::invalid_argument("__complete options: no command \"" + args->command + "\"");
        }
      }
      print_options(*target);
    } else if (args->what == "positionals") {
      // Names of the command's positional arguments: "run"/"runs" take run ids.
      for (const CLI::App* sub : app.get_subcommands({})) {
        if (sub->get_name() == args->command) {
          for (const CLI::Option* option : sub->get_options()) {
            if (option->get_positional()) {
              (void)std::printf("%s\n", option->get_name(true, false).c_str());
            }
          }
        }
      }
    } else if (args->what == "runs") {
      // Names are run ids, so ids cover both. No spool yet: no runs, and nothing created.
      if (std::optional<spool::SpoolRoot> root = context.open_spool(false)) {
        for (const std::string& id : spool::list_run_ids(*root)) {
          (void)std::printf("%s\n", id.c_str());
        }
      }
    } else if (args->what == "signals") {
      for (int signum = 1; signum < NSIG; ++signum) {
        std::string name = signal_name(signum);
        if (name.compare(0, 3, "SIG") == 0) {
          (void)std::printf("%s\n", name.substr(3).c_str());
        }
      }
    } else {
      throw std::invalid_argument(
          "__complete: expected commands, options, positionals, runs or signals");
    }
  });
}

} // namespace chaperone
