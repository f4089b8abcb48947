// chaperone/main.cpp: the command line. Parses, dispatches, and turns every error into one
// line on stderr and exit code 125 (DESIGN.md "Exit codes of the CLI").
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/empty_values.hpp"
#include "chaperone/cli/error_report.hpp"
#include "chaperone/cli/help_text.hpp"
#include "chaperone/client/far_client.hpp"
#include "chaperone/supervisor/logging.hpp"
#include "chaperone/supervisor/version.hpp"
#include "spool/printable.hpp"
#include "spool/state.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string_view>

namespace {

// A caller may start us with 0, 1 or 2 closed; the first file we open would then land on
// it and the program's output could end up in a spool file by accident (or vice versa).
void ensure_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (opened >= 0 && opened != fd) {
        ::dup2(opened, fd);
        ::close(opened);
      }
    }
  }
}

using AddCommand = void (*)(CLI::App&, chaperone::CliContext&);

struct CommandEntry {
  const char* name;
  AddCommand add;
  bool alone; // may be built without the others (its parse and errors never name them)
};

// In the order `chaperone --help` lists them.
constexpr CommandEntry k_commands[] = {
    {"run", chaperone::add_run_command, true},
    {"attach", chaperone::add_attach_command, true},
    {"tail", chaperone::add_tail_command, true},
    {"wait", chaperone::add_wait_command, true},
    {"status", chaperone::add_status_command, true},
    {"ls", chaperone::add_ls_command, true},
    {"kill", chaperone::add_kill_command, true},
    {"cmd", chaperone::add_cmd_command, false},
    {"agent", chaperone::add_agent_command, false},
    {"gc", chaperone::add_gc_command, true},
    {"watch", chaperone::add_watch_command, true},
    {"show", chaperone::add_show_command, true},
    {"complete", chaperone::add_complete_command, false},
};

// The command a call names, when it is one that can be built alone and no help or version
// is asked for anywhere before a `--`.
const CommandEntry* sole_command(int argc, char** argv) {
  const CommandEntry* named = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word == "--") {
      break;
    }
    if (word == "-h" || word.substr(0, 6) == "--help" || word == "--version") {
      return nullptr;
    }
    if (word == "--spool") {
      ++i; // its value is no command name
      continue;
    }
    if (named == nullptr && !word.empty() && word[0] != '-') {
      for (const CommandEntry& entry : k_commands) {
        if (word == entry.name) {
          named = &entry;
        }
      }
      if (named == nullptr || !named->alone) {
        return nullptr;
      }
    }
  }
  return named;
}

} // namespace

int main(int argc, char** argv) try {
  ensure_standard_fds();
  // A closed stdout must come back as EPIPE (a detach), not kill us mid-stream.
  (void)::signal(SIGPIPE, SIG_IGN);

  // A reader that finds the local follower of a durable remote run gone starts a new one.
  chaperone::install_far_reviver();
  chaperone::CliContext context;
  context.envp = environ;
  context.log = chaperone::make_stderr_logger(0);
  bool json = chaperone::wants_json(argc, argv);
  // What a command throws, from either parser's way in: one line (or JSON object), exit 125.
  auto command_failed = [json](const std::exception& e) {
    chaperone::report_error(chaperone::error_kind(e), e.what(), json);
    return chaperone::spool::k_exit_chaperone_failed;
  };
  try {
    if (chaperone::run_plain_command(argc, argv, context)) {
      (void)std::fflush(stdout);
      return context.exit_code;
    }
  } catch (const std::exception& e) {
    return command_failed(e);
  }

  CLI::App app{"chaperone: run programs under a detached supervisor that records their output\n"
               "and exit status in a spool directory, so callers can reattach later."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(chaperone::k_version_line));
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More log output on stderr (-vv for debug)");

  app.parse_complete_callback([&] { chaperone::set_stderr_verbosity(*context.log, verbosity); });
  // Building every command's options costs each call a few hundred microseconds, which
  // scripts calling `run` or `status` in a loop feel. A call that names one of these
  // commands and asks for no help gets only that command; everything else (help, errors
  // about the command name, completion) sees them all.
  if (auto only = sole_command(argc, argv)) {
    only->add(app, context);
  } else {
    for (const CommandEntry& entry : k_commands) {
      entry.add(app, context);
    }
  }
  app.footer(chaperone::main_help_footer());
  const char* spool_help = "Spool root (default: $CHAPERONE_SPOOL, else "
                           "$XDG_STATE_HOME/chaperone/spool, else ~/.local/state/chaperone/spool)";
  auto not_empty = [](const std::string& dir) {
    return dir.empty() ? std::string("--spool: expected a directory, got \"\"") : std::string();
  };
  app.add_option("--spool", context.spool_dir, spool_help)->check(not_empty, "DIR");
  // Every command takes --spool, also after its name, where people put it.
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->add_option("--spool", context.spool_dir, spool_help)->check(not_empty, "DIR");
    sub->footer(chaperone::command_help_footer(sub->get_name()));
  }
  chaperone::refuse_empty_values(app);

  int parsed_argc = argc;
  try {
    // `run` and `cmd` take the program after the first `--` verbatim.
    std::string subcommand;
    for (int i = 1; i < argc; ++i) {
      std::string word = argv[i];
      if (word == "--") {
        if (subcommand == "run" || subcommand == "cmd") {
          context.program_argv.assign(argv + i + 1, argv + argc);
          parsed_argc = i;
        }
        break;
      }
      if (word == "--spool") {
        ++i; // its value is no command name
        continue;
      }
      if (subcommand.empty() && !word.empty() && word[0] != '-') {
        subcommand = word;
      }
    }
    app.parse(parsed_argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    chaperone::report_error(
        "usage", chaperone::explain_parse_error(app, e, argc, argv, parsed_argc), json);
    return chaperone::spool::k_exit_chaperone_failed;
  } catch (const std::exception& e) {
    return command_failed(e);
  }
  (void)std::fflush(stdout);
  return context.exit_code;
} catch (const std::exception& e) {
  // Only reached if setting up the command line itself failed.
  (void)std::fprintf(stderr, "chaperone: %s\n", e.what());
  return chaperone::spool::k_exit_chaperone_failed;
}
