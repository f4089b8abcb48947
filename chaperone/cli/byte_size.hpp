// chaperone/byte_size.hpp: "1048576", "64K", "10M", "2G" (powers of 1024) for --max-output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chaperone {

// Returns nullopt for anything but digits with an optional K, M, G or T suffix (or KiB...),
// and for values that overflow 64 bits.
std::optional<std::uint64_t> parse_byte_size(const std::string& text);

} // namespace chaperone
