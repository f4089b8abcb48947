// tests/fuzz/fuzz_targets.hpp: one-input checks shared by the Catch2 property test (always
// run, g++) and the libFuzzer drivers (scripts/fuzz, clang). Each returns normally for any
// input and aborts (via a failed check) only when a property is violated.
#pragma once

#include <string_view>

namespace chaperone::fuzz {

// state.json text -> RunState: either parses into a state that round-trips through
// to_json/from_json, or fails with std::runtime_error / nlohmann::json::exception. Also
// writes the bytes as a run's state.json and reads them through RunDir::read_state, which
// must throw std::runtime_error naming the run for anything that is not a state.
void state_parser(std::string_view input);

// The first byte picks a chunking; the rest is program stderr. Whatever the program writes
// (even partial or forged markers with another nonce), MarkerFilter passes it through
// unchanged; markers with our nonce, inserted at random points, are always removed.
void marker_filter(std::string_view input);

// run_id_problem accepts only names that are safe as one path component.
void run_name(std::string_view input);

} // namespace chaperone::fuzz
