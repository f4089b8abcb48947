// chaperone/cli/empty_values.hpp: one rule for every option: an empty value is an error.
#pragma once

namespace CLI {
class App;
}

namespace chaperone {

// Makes every option of `app` and of its subcommands that takes a value refuse an empty one
// ("--host: empty value"), so that `--host "$UNSET"` fails instead of meaning "not given"
// (which would run locally, or without sudo). Positionals are left to their own checks: a
// program's argument may be empty. Call once, after every option has been added.
void refuse_empty_values(CLI::App& app);

} // namespace chaperone
