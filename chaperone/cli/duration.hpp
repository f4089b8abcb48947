// chaperone/duration.hpp: "90s", "5m", "1h30m", "1.5s", "250ms" as used by --timeout.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace chaperone {

// Parses a duration: one or more <number><unit> groups (units ms, s, m, h, d), or a bare
// number of seconds. Returns nullopt for anything else, including negative values.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

} // namespace chaperone
