// chaperone/tail_offset.hpp: where the last N lines of a spool file begin.
#pragma once

#include <cstdint>
#include <filesystem>

namespace chaperone {

// The byte offset at which the last `lines` lines of the file begin (a final line without
// a newline counts as a line). 0 if the file has fewer lines. Reads backwards from the end
// in blocks, so the cost does not grow with the file. Throws std::system_error naming the path.
std::uint64_t offset_of_last_lines(const std::filesystem::path& path, std::uint64_t lines);

} // namespace chaperone
