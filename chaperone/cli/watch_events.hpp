// chaperone/cli/watch_events.hpp: `watch --json` lines in the one event vocabulary (README
// "Event stream": output / state / final), with the run's id on every line because one
// stream carries many runs. The shared encoder
// (spool/event.hpp, from `attach --json`) writes them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace chaperone {

// {"event":"state"|"final","run_id":ID,"state":{...state.json...}}
std::string state_event_line(const std::string& run_id, const nlohmann::json& state, bool final);

// {"event":"output","run_id":ID,"stream":"stdout","offset":N,"data":"..."} for valid UTF-8,
// else "data_b64" with the raw bytes in standard base64.
std::string output_event_line(const std::string& run_id,
                              const char* stream,
                              std::uint64_t offset,
                              std::string_view bytes);

} // namespace chaperone
