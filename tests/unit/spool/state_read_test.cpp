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
             "{\"state\": \"running\"",
             "{\"state\": \"running\"} trailing",
             "{\"state\": \"running\",}",
             "[]",
             "[{\"state\": \"running\"}]",
             "[[1, [2]], {\"a\": [3]}]",
             "\"running\"",
             "42",
             "null",
             "{}",
             "{\"state\": null}",
             "{\"state\": 3}",
             "{\"state\": \"sleeping\"}",
             "{\"state\": \"bad\\u0001name\"}",
             "{\"state\": \"running\", \"pid\": \"12\"}",
             "{\"state\": \"running\", \"pid\": [1]}",
             "{\"pid\": \"12\"}",
             "{\"run_id\": 5, \"state\": null}",
             "{\"state\": \"running\", \"error\": 1, \"run_id\": false}",
             "{\"state\": \"running\", \"output\": {\"stdout\": \"1\", \"stderr\": -1}}",
             "{\"state\": \"running\", \"output\": {\"stderr\": {}}}",
             "{\"state\": \"running\", \"start_time\": 12}",
             "{\"state\": \"running\", \"x\": \"\xff\"}",
         }) {
      require_same_reading(text);
    }
  }
  SECTION("odd but accepted: conversions and repeated fields, last one wins") {
    for (const char* text : {
             "{\"state\": \"exited\", \"pid\": 12.9, \"signal\": true, \"exit_code\": -3}",
             "{\"state\": \"exited\", \"pid_start_ticks\": -1, \"return_code\": 1e3}",
             "{\"state\": \"exited\", \"output\": [1, 2], \"rusage\": null}",
             "{\"state\": \"exited\", \"output\": {\"stdout\": null, \"more\": 1}}",
             "{\"state\": \"bad\", \"state\": \"exited\"}",
             "{\"state\": \"exited\", \"state\": null}",
             "{\"pid\": \"x\", \"pid\": 7, \"state\": \"exited\"}",
             "{\"output\": {\"stdout\": \"x\"}, \"output\": {\"stdout\": 4}, \"state\": \"lost\"}",
             "{\"program\": 1, \"program\": {\"argv\": [\"a\", [\"b\", {\"c\": []}]]}, "
             "\"state\": \"exited\"}",
             "{\"state\": \"exited\", \"x\": {\"a\": 1, \"a\": 2}, \"x\": {\"b\": [{}, []]}}",
             "{\"state\": \"exited\", \"\xc3\xa9\": [true, false, null, 0.5, -0.0]}",
             " \n{\"state\" : \"running\" , \"target\":{\"mode\":\"ssh\",\"port\":22}}\n\n",
         }) {
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
