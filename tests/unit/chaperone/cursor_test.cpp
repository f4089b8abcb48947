// tests/unit/chaperone/cursor_test.cpp: STDOUT:STDERR cursors, as `status` prints and `attach`
// takes.
#include "chaperone/cli/cursor.hpp"

#include <catch2/catch.hpp>

using namespace chaperone;

TEST_CASE("a cursor round-trips through its text", "[unit][cursor][regression]") {
  for (Cursor cursor : {Cursor{0, 0}, Cursor{7680, 12}, Cursor{0, 5}, Cursor{UINT64_MAX, 1}}) {
    std::string text = format_cursor(cursor);
    INFO(text);
    auto parsed = parse_cursor(text);
    REQUIRE(parsed);
    CHECK(parsed->stdout_offset == cursor.stdout_offset);
    CHECK(parsed->stderr_offset == cursor.stderr_offset);
    CHECK_FALSE(cursor_problem(text));
  }
  CHECK(format_cursor({7680, 12}) == "7680:12");
}

TEST_CASE("a lone 0 is the start of both streams; any other lone number is refused",
          "[unit][cursor][regression]") {
  // One number for both streams silently skipped bytes of the one the user did not count.
  auto zero = parse_cursor("0");
  REQUIRE(zero);
  CHECK(zero->stdout_offset == 0);
  CHECK(zero->stderr_offset == 0);
  for (const char* text : {"4", "7680", "01"}) {
    INFO(text);
    CHECK_FALSE(parse_cursor(text));
    auto problem = cursor_problem(text);
    REQUIRE(problem);
    CHECK(problem->find("STDOUT:STDERR") != std::string::npos);
    CHECK(problem->find("--stdout-offset") != std::string::npos);
    CHECK(problem->find(std::string(text) + ":0") != std::string::npos);
  }
}

TEST_CASE("malformed cursors are refused", "[unit][cursor]") {
  for (const char* text : {"",
                           ":",
                           "1:",
                           ":1",
                           "1:2:3",
                           "-1:0",
                           "+1:0",
                           " 1:0",
                           "1:0 ",
                           "0x10:0",
                           "a:b",
                           "18446744073709551616:0", // 2^64
                           "1.5:0"}) {
    INFO("\"" << text << "\"");
    CHECK_FALSE(parse_cursor(text));
    auto problem = cursor_problem(text);
    REQUIRE(problem);
    CHECK(problem->find("STDOUT:STDERR") != std::string::npos);
  }
}
