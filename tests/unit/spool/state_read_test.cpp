// tests/unit/spool/state_read_test.cpp: RunState::from_text (state.json read without a tree)
// must accept exactly what from_json(parse(text)) accepts, read the same state from it and
// refuse the rest with the same message.
#include "spool/state.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace chaperone;
using nlohmann::json;

namespace {

// What a reader makes of `text`: the state's text, or "error: " and the message.
std::string through_tree(const std::string& text) {
  json tree;
  try {
    tree = json::parse(text);
  } catch (const json::exception&) {
    return "error: not valid JSON";
  }
  try {
    return spool::RunState::from_json(tree).to_text();
  } catch (const std::runtime_error& e) {
    return std::string("error: ") + e.what();
  }
}

std::string straight(const std::string& text) {
  try {
    return spool::RunState::from_text(text).to_text();
  } catch (const spool::RunState::NotJson&) {
    return "error: not valid JSON";
  } catch (const std::runtime_error& e) {
    return std::string("error: ") + e.what();
  }
}

void require_same_reading(const std::string& text) {
  INFO(text);
  REQUIRE(straight(text) == through_tree(text));
}

const char* const k_fields[] = {"run_id",
                                "state",
                                "program",
                                "target",
                                "boot_id",
                                "supervisor_pid",
                                "supervisor_start_ticks",
                                "pid",
                                "pgid",
                                "pid_start_ticks",
                                "return_code",
                                "signal",
                                "exit_code",
                                "rusage",
                                "start_time",
                                "end_time",
                                "error",
                                "output",
                                "far",
                                "timeout"};

json random_value(std::mt19937& random, int depth) {
  switch (random() % (depth > 2 ? 7 : 9)) {
  case 0:
    return nullptr;
  case 1:
    return random() % 2 == 0;
  case 2:
    return static_cast<int>(random() % 200) - 100;
  case 3:
    return (static_cast<std::uint64_t>(random()) << 32) | random();
  case 4:
    return 1.5;
  case 5:
    return "running";
  case 6:
    return "x\"y\\z\n\xc3\xa9";
  case 7: {
    json array = json::array();
    for (unsigned i = random() % 3; i > 0; --i) {
      array.push_back(random_value(random, depth + 1));
    }
    return array;
  }
  default: {
    json object = json::object();
    for (unsigned i = random() % 3; i > 0; --i) {
      object[random() % 2 == 0 ? "stdout" : "k" + std::to_string(random() % 4)] =
          random_value(random, depth + 1);
    }
    return object;
  }
  }
}

} // namespace

TEST_CASE("RunState::from_text reads what from_json reads", "[state_read]") {
  SECTION("states as the supervisor writes them") {
    spool::RunState s;
    s.run_id = "20261204T185534.338904Z-5202a7";
    s.state = spool::RunStatus::exited;
    s.program = {{"argv", {"true"}}, {"cwd", "/tmp/"}};
    s.rusage = {{"utime", 0.000739}, {"stime", 0.0}};
    s.pid = 31128;
    s.return_code = 0;
    s.exit_code = 0;
    s.stdout_bytes = 12;
    s.extra = {{"far", {{"host", "h"}, {"phase", "setup"}}}, {"timeout", {{"sent", "TERM"}}}};
    require_same_reading(s.to_text());
    CHECK(spool::RunState::from_text(s.to_text()).to_text() == s.to_text());
    s.state = spool::RunStatus::starting;
    s.extra = json::object();
    require_same_reading(s.to_text());
  }
  SECTION("refusals: each with from_json's message") {
    for (const char* text : {
             "",
             "   ",
             "{",
             R"({"state": "running")",
             R"({"state": "running"} trailing)",
             R"({"state": "running",})",
             "[]",
             R"([{"state": "running"}])",
             "[[1, [2]], {\"a\": [3]}]",
             "\"running\"",
             "42",
             "null",
             "{}",
             "{\"state\": null}",
             "{\"state\": 3}",
             R"({"state": "sleeping"})",
             R"({"state": "bad\u0001name"})",
             R"({"state": "running", "pid": "12"})",
             R"({"state": "running", "pid": [1]})",
             R"({"pid": "12"})",
             R"({"run_id": 5, "state": null})",
             R"({"state": "running", "error": 1, "run_id": false})",
             R"({"state": "running", "output": {"stdout": "1", "stderr": -1}})",
             R"({"state": "running", "output": {"stderr": {}}})",
             R"({"state": "running", "start_time": 12})",
             "{\"state\": \"running\", \"x\": \"\xff\"}",
         }) {
      require_same_reading(text);
    }
  }
  SECTION("a fractional number where an integer belongs: cut if it fits, else refused") {
    // Found by the state_parser fuzzer: nlohmann's get<int>() of 2444444444.2 is a cast out
    // of range (undefined behaviour), so the reader checks the range first.
    auto refusal = [](const std::string& text) {
      try {
        (void)spool::RunState::from_text(text);
        return std::string("accepted");
      } catch (const std::runtime_error& e) {
        return std::string(e.what());
      }
    };
    CHECK(refusal(R"({"state": "running", "pid": 2444444444.2})")
          == "field \"pid\" has the wrong type");
    CHECK(refusal(R"({"state": "running", "signal": -2147483649.5})")
          == "field \"signal\" has the wrong type");
    CHECK(refusal(R"({"state": "running", "pid_start_ticks": -1.5})")
          == "field \"pid_start_ticks\" has the wrong type");
    CHECK(refusal(R"({"state": "running", "output": {"stdout": 1e30}})")
          == "field \"stdout\" has the wrong type");
    CHECK(spool::RunState::from_text(R"({"state": "running", "pid": -12.9})").pid == -12);
    CHECK(spool::RunState::from_text(R"({"state": "running", "pid_start_ticks": 0.5})")
              .pid_start_ticks
          == 0U);
    require_same_reading(R"({"state": "running", "pid": 2444444444.2})");
  }
  SECTION("odd but accepted: conversions and repeated fields, last one wins") {
    for (const char* text : {
             R"({"state": "exited", "pid": 12.9, "signal": true, "exit_code": -3})",
             R"({"state": "exited", "pid_start_ticks": -1, "return_code": 1e3})",
             R"({"state": "exited", "output": [1, 2], "rusage": null})",
             R"({"state": "exited", "output": {"stdout": null, "more": 1}})",
             R"({"state": "bad", "state": "exited"})",
             R"({"state": "exited", "state": null})",
             R"({"pid": "x", "pid": 7, "state": "exited"})",
             R"({"output": {"stdout": "x"}, "output": {"stdout": 4}, "state": "lost"})",
             R"({"program": 1, "program": {"argv": ["a", ["b", {"c": []}]]}, "state": "exited"})",
             R"({"state": "exited", "x": {"a": 1, "a": 2}, "x": {"b": [{}, []]}})",
             "{\"state\": \"exited\", \"\xc3\xa9\": [true, false, null, 0.5, -0.0]}",
             " \n{\"state\" : \"running\" , \"target\":{\"mode\":\"ssh\",\"port\":22}}\n\n",
         }) {
      require_same_reading(text);
    }
  }
  SECTION("JSON's edges, as a value nlohmann keeps or refuses") {
    for (const std::string value : {
             // numbers: the integer types' limits, doubles, what JSON does not allow
             "0",
             "-0",
             "1",
             "-1",
             "9223372036854775807",
             "9223372036854775808",
             "-9223372036854775808",
             "-9223372036854775809",
             "18446744073709551615",
             "18446744073709551616",
             "123456789012345678901234567890",
             "1.5",
             "-1.5e10",
             "1E5",
             "1e+2",
             "2.5E-3",
             "0.000001",
             "1e-400",
             "-1e-400",
             "1e400",
             "-1e400",
             "01",
             "-",
             "-a",
             "1.",
             ".5",
             "+1",
             "1e",
             "1e+",
             "0x10",
             "NaN",
             "Infinity",
             "1.5.2",
             "--1",
             // literals
             "true",
             "false",
             "null",
             "tru",
             "nul",
             "falsey",
             "True",
             // escapes, surrogate pairs, lone surrogates
             R"("\" \\ \/ \b \f \n \r \t")",
             R"("\u0000")",
             R"("\u00e9\u00C9")",
             R"("\uD83D\uDE00")",
             R"("\u20AC")",
             R"("\x")",
             R"("\u12")",
             R"("\u12G4")",
             R"("\uD800")",
             R"("\uD800\u0041")",
             R"("\uD800x")",
             R"("\uDC00")",
             R"("\uDBFF\uDFFF")",
             R"("\")",
             // raw bytes: UTF-8 at each length's edges, control bytes, invalid UTF-8
             "\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\"",
             "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"",
             "\"a\x01b\"",
             "\"tab\there\"",
             "\"\xc0\x80\"",
             "\"\xc1\xbf\"",
             "\"\xe0\x80\x80\"",
             "\"\xed\xa0\x80\"",
             "\"\xf4\x90\x80\x80\"",
             "\"\xf5\x80\x80\x80\"",
             "\"\x80\"",
             "\"\xc2\"",
             "\"\xf0\x90\x80\"",
             "\"\xe2\x82\"",
             "\"unclosed",
             // structure
             "[]",
             "{}",
             "[1, [2, [3, []]], {}]",
             R"({"a": {"b": [null]}})",
             "[1,]",
             "{\"a\":1,}",
             "{\"a\" 1}",
             "{1: 2}",
             "[1 2]",
             "[",
             "{\"a\":}",
             "{,}",
             "[,1]",
             R"({"a":1 "b":2})",
             " [ 1 , 2 ] ",
             "\t\r\n1\n",
         }) {
      require_same_reading(R"({"state": "running", "x": )" + value + "}");
      require_same_reading("[" + value + "]");
    }
  }
  SECTION("a byte order mark, the top level and what follows it") {
    for (const std::string& text : std::initializer_list<std::string>{
             "\xEF\xBB\xBF{\"state\": \"running\"}",
             "\xEF\xBB{\"state\": \"running\"}",
             "\xEF\xBB\xBF\xEF\xBB\xBF{\"state\": \"running\"}",
             "\xEF\xBB\xBF",
             R"( {"state": "running"})",
             "{\"state\": \"running\"}\n\n",
             R"({"state": "running"}{})",
             R"({"state": "running"}x)",
             R"({"state": "running"},)",
             std::string("{\"state\": \"running\"}\0", 21),
             std::string("{\"state\"\0: \"running\"}", 21),
         }) {
      require_same_reading(text);
    }
  }
  SECTION("deep nesting: read without recursion") {
    // Both readers, 1,000 deep (writing the state back and copying a tree recurse, in
    // nlohmann and in to_text: a sanitized build's frames are large).
    std::string deep = R"({"state": "running", "x": )" + std::string(1000, '[') + "1"
                       + std::string(1000, ']') + "}";
    require_same_reading(deep);
    require_same_reading(deep.substr(0, deep.size() - 10)); // cut short
    // from_text alone, 200,000 deep: its reader keeps a stack of its own.
    std::string deeper =
        R"({"state": "running", "x": )" + std::string(200000, '[') + std::string(200000, ']') + "}";
    CHECK(spool::RunState::from_text(deeper).extra.contains("x"));
    CHECK_THROWS_AS(spool::RunState::from_text(deeper.substr(0, deeper.size() - 2)),
                    spool::RunState::NotJson);
  }
  SECTION("2,000 damaged copies of a real state: one byte changed, removed or the text cut") {
    spool::RunState s;
    s.run_id = "20261204T185534.338904Z-5202a7";
    s.state = spool::RunStatus::signaled;
    s.program = {{"argv", {"sh", "-c", R"(x="\u00e9"; echo $x)"}}, {"cwd", "/tmp/\xc3\xa9"}};
    s.rusage = {{"utime", 0.25}, {"maxrss_kib", 1668}};
    s.pid = 7;
    s.signal = 15;
    s.extra = {{"timeout", {{"sent", {"TERM", "KILL"}}, {"after_ms", 10000}}}};
    const std::string good = s.to_text();
    std::mt19937 random(1204);
    const char replacements[] = "{}[]\",:0123456789-+.eE \\/\"tfnu\x01\x7f\x80\xc3\xef";
    for (int i = 0; i < 2000; ++i) {
      std::string text = good;
      std::size_t at = random() % text.size();
      switch (random() % 3) {
      case 0:
        text[at] = replacements[random() % (sizeof replacements - 1)];
        break;
      case 1:
        text.erase(at, 1);
        break;
      default:
        text.resize(at);
        break;
      }
      INFO("copy " << i);
      require_same_reading(text);
    }
  }
  SECTION("3,000 random documents of state fields of every type") {
    std::mt19937 random(4122026);
    for (int i = 0; i < 3000; ++i) {
      json document = json::object();
      if (random() % 8 != 0) {
        document["state"] = random() % 4 == 0 ? random_value(random, 1) : json("signaled");
      }
      for (unsigned n = random() % 8; n > 0; --n) {
        document[k_fields[random() % std::size(k_fields)]] = random_value(random, 1);
      }
      INFO("document " << i);
      require_same_reading(document.dump(random() % 2 == 0 ? -1 : 2));
    }
  }
}
