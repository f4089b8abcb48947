// tests/unit/spool/utc_time_test.cpp: format_utc / parse_utc do their calendar arithmetic
// themselves (glibc's gmtime_r and timegm load the local time zone first); they must agree
// with gmtime_r and timegm everywhere, carries of out-of-range fields included.
#include "spool/host.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>
#include <random>
#include <string>

using namespace chaperone;

namespace {

// What format_utc printed when it was written with gmtime_r.
std::string reference_format(long long micros_since_epoch) {
  long long seconds = micros_since_epoch / 1'000'000;
  long long micros = micros_since_epoch % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  REQUIRE(::gmtime_r(&t, &tm) != nullptr);
  char buffer[64];
  (void)std::snprintf(buffer,
                      sizeof buffer,
                      "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                      tm.tm_year + 1900,
                      tm.tm_mon + 1,
                      tm.tm_mday,
                      tm.tm_hour,
                      tm.tm_min,
                      tm.tm_sec,
                      micros);
  return buffer;
}

spool::SystemTime at_micros(long long micros) {
  return spool::SystemTime(std::chrono::microseconds(micros));
}

long long micros_of(spool::SystemTime time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}

} // namespace

TEST_CASE("format_utc agrees with gmtime_r and parse_utc reads it back", "[unit][utc]") {
  std::vector<long long> instants{
      0,
      -1,                     // 1969-12-31T23:59:59.999999Z
      951'782'400'000'000,    // 2000-02-29 (a leap year of the 400 rule)
      4'107'542'400'000'000,  // 2100-03-01 (no Feb 29 in 2100)
      1'796'268'394'123'456,  // 2026-12-03
      7'258'118'399'999'999,  // 2199-12-31T23:59:59.999999Z
      -2'208'988'800'000'000, // 1900-01-01
  };
  std::mt19937_64 random(20261203);
  // SystemTime counts nanoseconds in 64 bits: 1678 to 2262.
  std::uniform_int_distribution<long long> spread(-2'208'988'800'000'000, 9'000'000'000'000'000);
  for (int i = 0; i < 20'000; ++i) {
    instants.push_back(spread(random));
  }
  for (long long micros : instants) {
    INFO("microseconds since the epoch: " << micros);
    std::string text = spool::format_utc(at_micros(micros));
    REQUIRE(text == reference_format(micros));
    std::optional<spool::SystemTime> back = spool::parse_utc(text);
    REQUIRE(back.has_value());
    CHECK(micros_of(*back) == micros);
  }
}

TEST_CASE("parse_utc carries out-of-range fields over as timegm does", "[unit][utc]") {
  struct Case {
    const char* text;
    int year, month, day, hour, minute, second; // as sscanf reads them
  };
  for (const Case& c : {Case{"2026-13-01T00:00:00.000000Z", 2026, 13, 1, 0, 0, 0},
                        Case{"2026-00-15T12:00:00.000000Z", 2026, 0, 15, 12, 0, 0},
                        Case{"2026-02-30T00:00:00.000000Z", 2026, 2, 30, 0, 0, 0},
                        Case{"2024-02-29T23:59:60.000001Z", 2024, 2, 29, 23, 59, 60},
                        Case{"2026-12-32T24:60:99.500000Z", 2026, 12, 32, 24, 60, 99},
                        Case{"2026-99-00T00:00:00.000000Z", 2026, 99, 0, 0, 0, 0}}) {
    INFO(c.text);
    std::tm tm{};
    tm.tm_year = c.year - 1900;
    tm.tm_mon = c.month - 1;
    tm.tm_mday = c.day;
    tm.tm_hour = c.hour;
    tm.tm_min = c.minute;
    tm.tm_sec = c.second;
    long long expected = static_cast<long long>(::timegm(&tm)) * 1'000'000;
    expected += std::string(c.text).find(".500000") != std::string::npos ? 500'000 : 0;
    expected += std::string(c.text).find(".000001") != std::string::npos ? 1 : 0;
    std::optional<spool::SystemTime> parsed = spool::parse_utc(c.text);
    REQUIRE(parsed.has_value());
    CHECK(micros_of(*parsed) == expected);
  }
  CHECK_FALSE(spool::parse_utc("2026-12-03T04:00:00Z").has_value());
  CHECK_FALSE(spool::parse_utc("2026-12-03T04:00:00.000000Z trailing").has_value());
  CHECK_FALSE(spool::parse_utc("").has_value());
}
