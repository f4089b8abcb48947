// chaperone/client/agent_program.hpp: the scheduler's program.json (seed "Remote-style
// agent"), validated strictly, and what chaperone makes of it.
#pragma once

#include "chaperone/client/launch.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace chaperone {

// callback {url, method, token, ca_file, allow_http, request_timeout} and the config keys
// that drive delivery. The token is kept apart: it is written only to a 0600 file of its own.
struct CallbackConfig {
  std::string url;             // without a trailing '/'
  std::string method = "POST"; // POST or PUT, for every request
  std::string ca_file;         // empty: the system's CAs
  bool allow_http = false;     // plain http to a non-loopback host
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds retry_frequency{10'000};
  std::uint64_t output_buffer = 65'536;
  std::chrono::milliseconds output_latency{1'000};

  nlohmann::json to_json() const;
  // Throws std::runtime_error naming the field (a damaged callback.json).
  static CallbackConfig from_json(const nlohmann::json& json);
};

struct AgentProgram {
  LaunchRequest request; // argv, cwd, env, target, timeout, name; stdin in stdin_data
  std::optional<std::string> stdin_data;
  std::optional<CallbackConfig> callback;
  std::optional<std::string> token;
};

// Parses and checks the document. Throws std::invalid_argument with one line naming the JSON
// path: "program.env.HOME: expected a string", "program.argv: must not be empty",
// "config.output_buffer: expected a positive integer", "callback.url: plain http is allowed
// only to a loopback address (or set callback.allow_http)". The message never contains the
// token. `base_cwd` is used when program.cwd is absent.
AgentProgram parse_agent_program(std::string_view text, const std::string& base_cwd);

} // namespace chaperone
