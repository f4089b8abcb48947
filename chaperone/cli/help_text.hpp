// chaperone/cli/help_text.hpp: the parts of --help that teach: an example for `chaperone
// --help`, and for each command the exit codes it returns and the environment it reads.
#pragma once

#include <string>

namespace chaperone {

// Shown under `chaperone --help`.
std::string main_help_footer();

// Shown under `chaperone COMMAND --help`; commands not described here get the generic
// exit codes (0, 125) and the spool environment.
std::string command_help_footer(const std::string& command);

} // namespace chaperone
