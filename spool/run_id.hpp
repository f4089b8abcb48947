// spool/run_id.hpp: what a run id may be, and how new ones are made.
#pragma once

#include "spool/host.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace chaperone::spool {

constexpr size_t k_max_run_id_length = 128;

// Returns why `name` cannot be a run id (for `--name`), or nullopt if it can. Allowed:
// 1..128 bytes of [A-Za-z0-9._@+-], not starting with '.' or '-'. The set is deliberately
// small: ids become directory names and appear in terminals and shell scripts, so no '/',
// no control or non-ASCII bytes (no look-alike Unicode), no leading '.' (hidden, "..").
std::optional<std::string> run_id_problem(std::string_view name);

// A new id that sorts by creation time: "20261125T192633.123456Z-3fa2c1" (UTC, microseconds,
// then `random_bits` as 6 hex digits to keep ids unique when runs start in the same
// microsecond).
std::string make_run_id(SystemTime now, unsigned random_bits);

} // namespace chaperone::spool
