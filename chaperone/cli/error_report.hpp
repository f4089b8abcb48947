// chaperone/cli/error_report.hpp: how the CLI reports a failure: one line of text, or one
// JSON object when the command was given --json.
#pragma once

#include <exception>
#include <string>

namespace CLI {
class App;
class ParseError;
} // namespace CLI

namespace chaperone {

// The stable `kind` of an error: CliError's own, "usage" for bad input
// (std::invalid_argument), "exists" for EEXIST, "spool" for other system errors, else
// "failed".
std::string error_kind(const std::exception& error);

// Prints `message` on stderr: "chaperone: MESSAGE" or, with json, one line
// {"error": MESSAGE, "kind": KIND, "exit_code": 125}.
void report_error(const std::string& kind, const std::string& message, bool json);

// Turns a CLI11 parse error into a message that teaches: the unknown word in the order it was
// typed, "did you mean" for near misses of commands and long options, and for `run`/`cmd` a
// hint that `--` is missing when the program's own options were taken for ours.
// `argv` is the full command line, `parsed_argc` how much of it CLI11 saw.
std::string explain_parse_error(
    CLI::App& app, const CLI::ParseError& error, int argc, char** argv, int parsed_argc);

// True if the command line asks for --json before any `--`.
bool wants_json(int argc, char** argv);

} // namespace chaperone
