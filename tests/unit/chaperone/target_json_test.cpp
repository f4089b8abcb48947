// tests/unit/chaperone/target_json_test.cpp: the target as spec.json records it, read back
// (kill and status of a remote run rebuild the target from spec.json).
#include "chaperone/supervisor/target_json.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using chaperone::target_from_json;
using chaperone::target_to_json;
using chaperone::cmdbuild::Target;
using chaperone::cmdbuild::TargetMode;

TEST_CASE("a target survives spec.json", "[unit][target-json]") {
  Target target;
  SECTION("local records the mode only") {
    CHECK(target_to_json(target) == nlohmann::json{{"mode", "local"}});
  }
  SECTION("ssh with every recorded field set") {
    target.mode = TargetMode::ssh_then_sudo;
    target.host = "build7.example";
    target.port = 2222;
    target.login = "ci";
    target.sudo_user = "deploy";
    target.identity_file = "/home/ci/.ssh/id_ed25519";
    target.ssh_options = {"ConnectTimeout=5", "StrictHostKeyChecking=no"};
    target.control_path = "/tmp/cm-%C";
    target.connect_timeout = 7;
    target.server_alive_interval = 2;
    target.server_alive_count_max = 9;
  }
  SECTION("sudo-then-ssh without a port") {
    target.mode = TargetMode::sudo_then_ssh;
    target.host = "10.0.0.5";
    target.sudo_user = "deploy";
  }
  // Through text, as spec.json is written and read.
  Target back = target_from_json(nlohmann::json::parse(target_to_json(target).dump()));
  CHECK(back.mode == target.mode);
  CHECK(back.host == target.host);
  CHECK(back.port == target.port);
  CHECK(back.login == target.login);
  CHECK(back.sudo_user == target.sudo_user);
  CHECK(back.identity_file == target.identity_file);
  CHECK(back.ssh_options == target.ssh_options);
  CHECK(back.control_path == target.control_path);
  CHECK(back.connect_timeout == target.connect_timeout);
  CHECK(back.server_alive_interval == target.server_alive_interval);
  CHECK(back.server_alive_count_max == target.server_alive_count_max);
}

TEST_CASE("a spec.json target that is not one is refused naming the problem",
          "[unit][target-json]") {
  auto [text, needle] = GENERATE(table<std::string, std::string>({
      {R"({})", "spec.json target"},
      {R"({"mode": "teleport"})", "unknown target mode"},
      {R"({"mode": 3})", "spec.json target"},
      {R"({"mode": "ssh", "port": "22"})", "spec.json target"},
      {R"({"mode": "ssh", "ssh_options": "A=B"})", "spec.json target"},
      {R"([])", "spec.json target"},
  }));
  CAPTURE(text);
  CHECK_THROWS_AS(target_from_json(nlohmann::json::parse(text)), std::runtime_error);
  CHECK_THROWS_WITH(target_from_json(nlohmann::json::parse(text)), Catch::Contains(needle));
}
