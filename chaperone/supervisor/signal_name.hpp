// chaperone/signal_name.hpp: signal names and numbers for the command line.
#pragma once

#include <optional>
#include <string>

namespace chaperone {

// "TERM", "SIGTERM", "term" or "15" -> 15; nullopt if unknown.
std::optional<int> parse_signal(const std::string& text);
// 15 -> "SIGTERM"; unknown numbers -> "signal N".
std::string signal_name(int signum);

} // namespace chaperone
