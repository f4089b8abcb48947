// spool/event.hpp: the one JSON-lines event vocabulary spoken by `attach --json`, `watch
// --json`, the callback sender and the far mirror (README "Event stream").
#pragma once

#include "spool/run_dir.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chaperone::spool {

enum class EventKind { output, state, final };

// One event. Output: `data` holds raw bytes [offset, offset + data.size()) of `stream`.
// State and final: `state` holds the run's state.json object.
struct Event {
  EventKind kind = EventKind::output;
  Stream stream = Stream::out;
  std::uint64_t offset = 0;
  std::string data;
  nlohmann::json state = nullptr;
};

// One line, without the trailing newline:
//   {"event":"output","stream":"stdout","offset":N,"data":"text"}   (valid UTF-8)
//   {"event":"output","stream":"stderr","offset":N,"data_b64":"..."} (anything else)
//   {"event":"state","state":{...}}    {"event":"final","state":{...}}
// Strings inside a state that are not valid UTF-8 are written as U+FFFD (as `status --json`).
std::string encode_event(const Event& event);

// Parses one line (a trailing newline is allowed). Throws std::runtime_error "event: <why>"
// for anything that is not an event of this vocabulary.
Event decode_event(std::string_view line);

// True if `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF: exactly what a strict JSON encoder accepts).
bool is_valid_utf8(std::string_view bytes);

// The number of bytes at the end of `bytes` that begin a UTF-8 sequence which more bytes
// could still complete (0 to 3). A chunk cut before them does not split a character.
std::size_t incomplete_utf8_tail(std::string_view bytes);

std::string base64_encode(std::string_view bytes);
// Throws std::runtime_error on characters outside the standard alphabet or bad padding.
std::string base64_decode(std::string_view text);

} // namespace chaperone::spool
