// tests/unit/chaperone/byte_size_test.cpp: the --max-output syntax (powers of 1024).
#include "chaperone/cli/byte_size.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using chaperone::parse_byte_size;

TEST_CASE("byte sizes with binary suffixes parse", "[unit][byte-size]") {
  auto [text, bytes] = GENERATE(table<std::string, std::uint64_t>({
      {"0", 0},
      {"1048576", 1048576},
      {"100B", 100},
      {"64K", 64ULL << 10},
      {"64k", 64ULL << 10},
      {"10M", 10ULL << 20},
      {"10MiB", 10ULL << 20},
      {"2G", 2ULL << 30},
      {"3gib", 3ULL << 30},
      {"1T", 1ULL << 40},
      {"18446744073709551615", UINT64_MAX},
      {"16777215T", 16777215ULL << 40},
  }));
  CAPTURE(text);
  auto parsed = parse_byte_size(text);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == bytes);
}

TEST_CASE("malformed or overflowing byte sizes are refused", "[unit][byte-size]") {
  std::string text = GENERATE("",
                              "K",
                              "-1",
                              "1.5M",
                              "10 M",
                              "10MB",
                              "10Ki",
                              "10X",
                              "18446744073709551616", // 2^64
                              "16777216T",            // 2^64 bytes
                              "0x10");
  CAPTURE(text);
  CHECK_FALSE(parse_byte_size(text).has_value());
}
