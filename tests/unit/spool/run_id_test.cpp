// tests/unit/spool/run_id_test.cpp: which names may be run ids, and generated ids' order.
#include "spool/run_id.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace chaperone;

TEST_CASE("run_id_problem refuses hostile names with a reason", "[unit][run_id]") {
  auto [name, reason] = GENERATE(table<std::string, std::string>({
      {"", "empty"},
      {"/", "'/'"},
      {"a/b", "'/'"},
      {"..", "'.'"},
      {".", "'.'"},
      {".hidden", "'.'"},
      {"-rf", "'-'"},
      {std::string(129, 'a'), "128"},
      {std::string(1000, 'a'), "128"},
      {std::string("a\0b", 3), "0x00"},
      {"line\nbreak", "0x0a"},
      {"tab\t", "0x09"},
      {"esc\x1b[31m", "0x1b"},
      {"del\x7f", "0x7f"},
      {"caf\xc3\xa9", "0xc3"},
      {"\xff\xfe", "0xff"},
      {"with space", "0x20"},
      {"star*", "'*'"},
      {"dollar$", "'$'"},
      {"quote'", "'''"},
      {"back\\slash", "'\\'"},
      {"colon:", "':'"},
  }));
  INFO("name: " << name);
  auto problem = spool::run_id_problem(name);
  REQUIRE(problem.has_value());
  CHECK(problem->find(reason) != std::string::npos);
}

TEST_CASE("run_id_problem accepts plain names up to 128 bytes", "[unit][run_id]") {
  std::string name = GENERATE(std::string("a"),
                              std::string("build-42"),
                              std::string("x.y_z@host+1"),
                              std::string("a..b"),
                              std::string("trailing."),
                              std::string("A-Z_0-9"),
                              std::string(128, 'n'));
  CHECK(spool::run_id_problem(name) == std::nullopt);
}

TEST_CASE("make_run_id makes valid ids that sort by creation time", "[unit][run_id]") {
  using namespace std::chrono;
  // Around second, day and year boundaries, and the microsecond digits.
  std::vector<spool::SystemTime> times;
  spool::SystemTime base = sys_days{year{2026} / 12 / 31} + hours{23} + minutes{59} + seconds{58};
  for (int us : {0, 1, 9, 10, 999'999, 1'000'000, 1'000'001, 1'999'999, 2'000'000, 2'500'000}) {
    times.push_back(base + microseconds{us});
  }
  std::vector<std::string> ids;
  std::mt19937 random(42);
  for (spool::SystemTime t : times) {
    std::string id = spool::make_run_id(t, static_cast<unsigned>(random()));
    INFO(id);
    CHECK(spool::run_id_problem(id) == std::nullopt);
    CHECK(id.size() <= spool::k_max_run_id_length);
    ids.push_back(id);
  }
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  CHECK(ids.front().rfind("20261231T235958.000000Z-", 0) == 0);
  CHECK(ids.back().rfind("20270101T000000.500000Z-", 0) == 0);
}

TEST_CASE("make_run_id tells runs of the same microsecond apart by their random bits",
          "[unit][run_id]") {
  spool::SystemTime now = std::chrono::system_clock::now();
  CHECK(spool::make_run_id(now, 1) != spool::make_run_id(now, 2));
  CHECK(spool::make_run_id(now, 0x1000000) == spool::make_run_id(now, 0)); // 24 bits kept
}
