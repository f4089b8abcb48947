// tests/unit/chaperone/duration_test.cpp: the --timeout / --kill-after / --grace syntax.
#include "chaperone/cli/duration.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using chaperone::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("durations in the README's forms parse to milliseconds", "[unit][duration]") {
  auto [text, ms] = GENERATE(table<std::string, long long>({
      {"90s", 90'000},
      {"5m", 300'000},
      {"1h30m", 5'400'000},
      {"1.5s", 1'500},
      {"250ms", 250},
      {"2d", 172'800'000},
      {"10", 10'000}, // a bare number is seconds
      {"0", 0},
      {"0.25", 250},
      {"1m30s500ms", 90'500},
  }));
  CAPTURE(text);
  auto parsed = parse_duration(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->count() == ms);
}

TEST_CASE("malformed durations are refused", "[unit][duration]") {
  std::string text = GENERATE("",
                              "s",
                              "-5s",
                              "5x",
                              "5 s",
                              "1.2.3s",
                              ".s",
                              "10 ",
                              "1h30", // a bare number only stands alone
                              "5S",
                              "1e3s",
                              "99999999999999999999d");
  CAPTURE(text);
  CHECK_FALSE(parse_duration(text).has_value());
}
