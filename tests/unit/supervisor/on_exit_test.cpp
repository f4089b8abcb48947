// tests/unit/supervisor/on_exit_test.cpp: the part of a spec the supervisor keeps for on_exit.
#include "chaperone/supervisor/on_exit.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace chaperone {
namespace {

TEST_CASE("the on_exit part of a spec holds the command and nothing else", "[supervisor]") {
  auto spec = nlohmann::json::parse(R"({
    "config": {"on_exit": "echo done >> log", "kill_after_ms": 10000, "lock": "db"},
    "program": {"argv": ["sleep", "1"], "cwd": "/"},
    "target": {"mode": "local"}
  })");
  nlohmann::json kept = on_exit_spec(spec);
  CHECK(kept == nlohmann::json::parse(R"({"config": {"on_exit": "echo done >> log"}})"));
  CHECK(has_on_exit(kept));
}

TEST_CASE("a spec without an on_exit command keeps nothing", "[supervisor]") {
  CHECK(on_exit_spec(nlohmann::json::parse(R"({"config": {"kill_after_ms": 1}})"))
        == nlohmann::json::object());
  CHECK(on_exit_spec(nlohmann::json::parse(R"({"config": {"on_exit": null}})"))
        == nlohmann::json::object());
  CHECK(on_exit_spec(nlohmann::json::parse(R"({"program": {}})")) == nlohmann::json::object());
  CHECK_FALSE(has_on_exit(on_exit_spec(nlohmann::json::parse(R"({"config": {"on_exit": 3}})"))));
}

} // namespace
} // namespace chaperone
