// tests/unit/chaperone/tail_offset_test.cpp: where `tail -n N` and `attach --tail N` start.
#include "chaperone/cli/tail_offset.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <system_error>

using chaperone::offset_of_last_lines;
using chaperone::test::TempSpool;
using chaperone::test::write_whole_file;

namespace {

// The offset by the obvious forward method: the start of the N-th line from the end.
std::uint64_t expected_offset(const std::string& text, std::uint64_t lines) {
  if (lines == 0) {
    return text.size();
  }
  std::uint64_t seen = 0;
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') {
    --end; // a trailing newline ends the last line, it does not start another
  }
  for (std::size_t i = end; i-- > 0;) {
    if (text[i] == '\n' && ++seen == lines) {
      return i + 1;
    }
  }
  return 0;
}

} // namespace

TEST_CASE("the last N lines start where tail(1) would start them", "[unit][tail]") {
  TempSpool spool;
  auto path = spool.scratch() / "stream";
  auto [text, lines, offset] = GENERATE(table<std::string, std::uint64_t, std::uint64_t>({
      {"", 0, 0},
      {"", 3, 0},
      {"a\nb\nc\n", 1, 4},
      {"a\nb\nc\n", 2, 2},
      {"a\nb\nc\n", 3, 0},
      {"a\nb\nc\n", 9, 0},
      {"a\nb\nc\n", 0, 6},
      {"a\nb\nc", 1, 4}, // a last line without a newline counts
      {"a\nb\nc", 2, 2},
      {"\n\n\n", 1, 2},
      {"\n\n\n", 3, 0},
      {"one line no newline", 1, 0},
  }));
  CAPTURE(text, lines);
  write_whole_file(path, text);
  CHECK(offset_of_last_lines(path, lines) == offset);
  CHECK(offset_of_last_lines(path, lines) == expected_offset(text, lines));
}

TEST_CASE("tail offsets are right across the 64 KiB read blocks", "[unit][tail]") {
  TempSpool spool;
  auto path = spool.scratch() / "stream";
  // Lines of varying length so newlines fall on and around every block boundary.
  std::string text;
  for (int i = 0; text.size() < 300'000; ++i) {
    text += std::string(static_cast<std::size_t>(i * 37 % 5000), 'x') + "\n";
  }
  text += std::string(65536, 'y'); // a last line longer than one block, no newline
  write_whole_file(path, text);
  for (std::uint64_t lines : {1, 2, 3, 10, 64, 100, 200, 1'000'000}) {
    CAPTURE(lines);
    CHECK(offset_of_last_lines(path, lines) == expected_offset(text, lines));
  }
}

TEST_CASE("a missing stream file throws a system_error naming it", "[unit][tail]") {
  TempSpool spool;
  auto path = spool.scratch() / "no-such-stream";
  CHECK_THROWS_AS(offset_of_last_lines(path, 3), std::system_error);
  CHECK_THROWS_WITH(offset_of_last_lines(path, 3), Catch::Contains("no-such-stream"));
}
