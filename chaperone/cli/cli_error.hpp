// chaperone/cli/cli_error.hpp: a refusal of the command line that scripts must tell apart.
#pragma once

#include <stdexcept>
#include <string>

namespace chaperone {

// Thrown by commands for the refusals a script branches on; `kind` is the stable word that
// `--json` errors carry ("no_such_run", "ambiguous", "exists", "not_running", "lost", ...).
// Every other exception is classified by error_kind() (cli/error_report.hpp). STYLE.md's
// "one error type" is kept below the CLI: this exists only to carry that word to main().
class CliError : public std::runtime_error {
public:
  CliError(std::string kind, const std::string& message)
      : std::runtime_error(message), m_kind(std::move(kind)) {}
  const std::string& kind() const { return m_kind; }

private:
  std::string m_kind;
};

} // namespace chaperone
