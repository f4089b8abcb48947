// chaperone/cli/help_text.cpp: exit codes, environment and examples for --help.
#include "chaperone/cli/help_text.hpp"

namespace chaperone {

namespace {

const char* const k_spool_environment =
    "Environment:\n"
    "  CHAPERONE_SPOOL   spool root (--spool DIR wins over it)\n"
    "  XDG_STATE_HOME    else the root is $XDG_STATE_HOME/chaperone/spool\n"
    "  HOME              else ~/.local/state/chaperone/spool\n";

const char* const k_program_exit_codes =
    "Exit codes (those of the run):\n"
    "  N        the program exited with N\n"
    "  128+N    the program was killed by signal N\n"
    "  124      --timeout expired\n"
    "  75       the program never ran (state skipped: --after-ok, --no-wait, --lock-timeout)\n"
    "  125      chaperone failed: bad usage, no such run, spool error, or the run is lost\n"
    "  126/127  the program is not executable / was not found\n"
    "  129/141  this front end detached (SIGHUP / stdout closed); the run goes on\n"
    "  255      remote run: ssh itself failed\n";

const char* const k_plain_exit_codes = "Exit codes:\n"
                                       "  0        done\n"
                                       "  125      chaperone failed: bad usage, no such run, "
                                       "spool error (with --json: one JSON object on stderr)\n";

} // namespace

std::string main_help_footer() {
  return "Example:\n"
         "  chaperone run -- make test            # attached: output streams, exit code is make's\n"
         "  id=$(chaperone run -d -- ./backup.sh)  # detached: prints the run id\n"
         "  chaperone attach \"$id\"                # later, from anywhere: the rest, then its "
         "code\n"
         "  chaperone ls; chaperone status --json \"$id\"\n"
         "  chaperone kill \"$id\"\n"
         "\n"
         "Run `chaperone COMMAND --help` for a command's options, exit codes and environment;\n"
         "`man chaperone` for all of it.\n"
         "\n"
         + std::string(k_spool_environment);
}

std::string command_help_footer(const std::string& command) {
  std::string environment = k_spool_environment;
  if (command == "run") {
    return std::string("With -d: 0 once the run is started (it prints the id), 125 if it could "
                       "not be.\n")
           + k_program_exit_codes + "\n" + environment
           + "  (the program gets our environment, plus --env; PATH finds PROGRAM)\n";
  }
  if (command == "attach") {
    return std::string(k_program_exit_codes) + "\n" + environment;
  }
  if (command == "wait") {
    return "Exit codes:\n"
           "  0        every run ended with 0 (--any: the first to end did)\n"
           "  N        the first non-zero code of the runs, in argument order (see "
           "`chaperone run --help`)\n"
           "  125      chaperone failed: bad usage, no such run, spool error, a run is lost\n\n"
           + environment;
  }
  if (command == "tail") {
    return std::string(k_plain_exit_codes) + "  141      stdout was closed (e.g. `| head`)\n\n"
           + environment;
  }
  if (command == "kill") {
    return "Exit codes:\n"
           "  0        the signal was sent (and, without -s, the run has ended)\n"
           "  125      chaperone failed: bad usage, no such run, the run is not running, unknown "
           "signal\n\n"
           + environment + "  (remote runs: ssh reads its usual configuration)\n";
  }
  if (command == "cmd") {
    return std::string(k_plain_exit_codes) + "\n" + "Environment: none (nothing is started).\n";
  }
  return std::string(k_plain_exit_codes) + "\n" + environment;
}

} // namespace chaperone
