// tests/unit/spool/json_text_test.cpp: the spool's JSON writer (spool/json_text.hpp) and
// RunState::to_text() must give byte for byte the text nlohmann::json::dump(2, ' ', false,
// replace) gives: state.json and spec.json are read by people, scripts and older releases.
#include "spool/json_text.hpp"
#include "spool/state.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

using namespace chaperone;
using nlohmann::json;

namespace {

std::string reference(const json& value) {
  return value.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string written(const json& value) {
  std::string out;
  spool::append_json_value(out, value, 0);
  return out;
}

// Strings that take every path of the writer: plain ASCII, each escape, control bytes,
// DEL, UTF-8 of 2, 3 and 4 bytes, and invalid UTF-8 (a lone continuation byte, a cut
// sequence, an overlong form) that is written as U+FFFD.
const std::string k_strings[] = {
    "",
    "plain text",
    "quote \" and backslash \\",
    "tab\tnewline\ncr\rff\fbs\b",
    std::string("nul \0 byte", 10),
    "\x01\x1f\x7f",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "lone \x80 byte",
    "cut \xe2\x82",
    "overlong \xc0\xaf",
    "/tmp/dir with space/file",
};

json random_value(std::mt19937& random, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 6 : 8);
  switch (kind(random)) {
  case 0:
    return nullptr;
  case 1:
    return random() % 2 == 0;
  case 2:
    return static_cast<std::int64_t>(random()) - (1LL << 31);
  case 3:
    return static_cast<std::uint64_t>(random()) << 32 | random();
  case 4: {
    std::uniform_real_distribution<double> real(-1e6, 1e6);
    return real(random);
  }
  case 5:
  case 6:
    return k_strings[random() % std::size(k_strings)];
  case 7: {
    json array = json::array();
    for (unsigned i = random() % 4; i > 0; --i) {
      array.push_back(random_value(random, depth + 1));
    }
    return array;
  }
  default: {
    json object = json::object();
    for (unsigned i = random() % 5; i > 0; --i) {
      object[k_strings[random() % std::size(k_strings)] + std::to_string(random() % 3)] =
          random_value(random, depth + 1);
    }
    return object;
  }
  }
}

spool::RunState full_state() {
  spool::RunState s;
  s.run_id = "20261204T185534.338904Z-5202a7";
  s.state = spool::RunStatus::exited;
  s.program = {{"argv", {"sh", "-c", "echo \"hi\"\n"}}, {"cwd", "/tmp/w"}};
  s.target = {{"mode", "ssh"}, {"host", "127.0.0.1"}, {"port", 2222}};
  s.boot_id = "109d23c0-bb95-46c6-8030-0d64a63d84c0";
  s.supervisor_pid = 31127;
  s.supervisor_start_ticks = 1062942;
  s.pid = 31128;
  s.pgid = 31128;
  s.pid_start_ticks = std::numeric_limits<std::uint64_t>::max();
  s.return_code = 0;
  s.signal = -1;
  s.exit_code = 0;
  s.rusage = {{"utime", 0.000739}, {"stime", 0.0}, {"maxrss_kib", 1668}, {"minflt", 50}};
  s.start_time = "2026-12-04T18:55:34.389974Z";
  s.end_time = "2026-12-04T18:55:34.391618Z";
  s.error = "line one\nline \xff two";
  s.stdout_bytes = 1ULL << 40;
  s.stderr_bytes = 7;
  return s;
}

void require_same_text(const spool::RunState& s) {
  CHECK(s.to_text() == reference(s.to_json()) + "\n");
}

} // namespace

TEST_CASE("append_json_value writes what dump(2) writes", "[json_text]") {
  SECTION("scalars and their edges") {
    for (const json& value : {json(nullptr),
                              json(true),
                              json(false),
                              json(0),
                              json(-1),
                              json(std::numeric_limits<std::int64_t>::min()),
                              json(std::numeric_limits<std::uint64_t>::max()),
                              json(0.0),
                              json(-0.0),
                              json(1.0),
                              json(0.1),
                              json(1e300),
                              json(std::nan("")),
                              json(std::numeric_limits<double>::infinity())}) {
      CHECK(written(value) == reference(value));
    }
  }
  SECTION("strings: escapes, UTF-8 and invalid UTF-8") {
    for (const std::string& text : k_strings) {
      CHECK(written(json(text)) == reference(json(text)));
      json keyed = {{text, text}};
      CHECK(written(keyed) == reference(keyed));
    }
  }
  SECTION("empty and nested containers") {
    json value = {{"a", json::array()},
                  {"b", json::object()},
                  {"c", {json::array(), json::object(), {1, {2, {3}}}}},
                  {"d", {{"e", {{"f", json::object()}}}}}};
    CHECK(written(value) == reference(value));
    CHECK(written(json::array()) == "[]");
    CHECK(written(json::object()) == "{}");
  }
  SECTION("binary values, at depth") {
    json value = {{"blob", json::binary({1, 2, 3}, 42)}, {"list", {json::binary({})}}};
    CHECK(written(value) == reference(value));
  }
  SECTION("2,000 random trees") {
    std::mt19937 random(20261204);
    for (int i = 0; i < 2000; ++i) {
      json value = random_value(random, 0);
      INFO("tree " << i);
      REQUIRE(written(value) == reference(value));
    }
  }
}

TEST_CASE("RunState::to_text is to_json().dump(2) and a newline", "[json_text]") {
  SECTION("a default state") {
    require_same_text(spool::RunState{});
  }
  SECTION("every field set, escapes and invalid UTF-8 in them") {
    require_same_text(full_state());
  }
  SECTION("extra fields before, between and after its own, and under its own names") {
    spool::RunState s = full_state();
    s.extra = {{"aaa", 1},
               {"far_group", {{"ended", true}, {"codes", {0, 1}}}},
               {"pid", "not this one"},
               {"pid_", 2},
               {"state", "ignored"},
               {"stdout", nullptr},
               {"zzz", {{"nested", json::array()}}},
               {"\xc3\xa9t\xc3\xa9", "\xff"}};
    require_same_text(s);
    CHECK(s.to_text().find("not this one") == std::string::npos);
  }
  SECTION("extra that is not an object is left out, as to_json leaves it") {
    spool::RunState s = full_state();
    s.extra = json::array({1, 2});
    require_same_text(s);
  }
  SECTION("null and odd-typed subtrees") {
    spool::RunState s;
    s.program = nullptr;
    s.target = "local";
    s.rusage = json::array();
    s.state = spool::RunStatus::timed_out;
    require_same_text(s);
  }
  SECTION("every state name") {
    spool::RunState s = full_state();
    for (auto status : {spool::RunStatus::starting,
                        spool::RunStatus::waiting,
                        spool::RunStatus::running,
                        spool::RunStatus::signaled,
                        spool::RunStatus::failed,
                        spool::RunStatus::lost,
                        spool::RunStatus::skipped}) {
      s.state = status;
      require_same_text(s);
    }
  }
  SECTION("read back: the text parses to the same state") {
    spool::RunState s = full_state();
    s.error = "line one\nline two"; // valid UTF-8: nothing replaced
    s.extra = {{"aaa", 1}, {"zzz", "x"}};
    spool::RunState back = spool::RunState::from_json(json::parse(s.to_text()));
    CHECK(back.to_text() == s.to_text());
  }
}
