// tests/support/pattern.hpp: a deterministic, position-dependent byte stream, so a test can
// tell a missing, duplicated or shifted chunk from the right bytes without storing them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chaperone::test {

// Fills out[0, n) with bytes [offset, offset + n) of the stream named by `seed`. Each
// 8-byte word is a hash of (seed, word index): no period, so a shift by any amount shows.
void fill_pattern(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t n);

// Bytes [offset, offset + n) of the stream, as a string (for small checks).
std::string pattern_bytes(std::uint64_t seed, std::uint64_t offset, std::size_t n);

// Checks a stream chunk by chunk against the pattern, from `start_offset` on.
class PatternChecker {
public:
  explicit PatternChecker(std::uint64_t seed, std::uint64_t start_offset = 0)
      : m_seed(seed), m_offset(start_offset) {}

  void feed(std::string_view chunk);
  // Bytes fed so far plus the start offset: the stream offset of the next byte expected.
  std::uint64_t offset() const { return m_offset; }
  // The stream offset of the first wrong byte, if any.
  std::optional<std::uint64_t> first_mismatch() const { return m_first_mismatch; }
  bool ok() const { return !m_first_mismatch; }

private:
  std::uint64_t m_seed;
  std::uint64_t m_offset;
  std::optional<std::uint64_t> m_first_mismatch;
  std::string m_expected;
};

// Feeds a whole file through a PatternChecker in chunks; returns the checker.
PatternChecker check_file_against_pattern(const std::string& path, std::uint64_t seed);

} // namespace chaperone::test
