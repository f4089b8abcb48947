// chaperone/run_summary.hpp: one-line and key/value renderings of a run for people.
#pragma once

#include "spool/state.hpp"

#include <optional>
#include <string>

namespace chaperone {

// argv joined with spaces, each word quoted for a POSIX shell where needed.
std::string command_line_for_display(const nlohmann::json& argv);

// "1.234s", "2m03s", "1h02m", or "-" if unknown. A run not final yet counts up to now.
std::string duration_for_display(const spool::RunState& state);
// The same for a final run's recorded duration_s (none: "-").
std::string duration_for_display(std::optional<double> seconds);

// "2026-11-25 19:26:33" (UTC, to the second) or "-".
std::string time_for_display(const std::string& iso_time);

} // namespace chaperone
