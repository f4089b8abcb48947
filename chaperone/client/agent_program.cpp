// chaperone/client/agent_program.cpp: program.json -> LaunchRequest + callback settings.
#include "chaperone/client/agent_program.hpp"

#include "spool/run_id.hpp"

#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

namespace chaperone {

namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::invalid_argument(path + ": " + why);
}

const char* type_name(const json& value) {
  return value.type_name();
}

void only_keys(const json& object, const std::string& path, const std::set<std::string>& keys) {
  for (const auto& [key, value] : object.items()) {
    if (keys.count(key) == 0) {
      std::string where = path.empty() ? key : path + "." + key;
      refuse(where, "unknown key");
    }
  }
}

const json& object_at(const json& parent, const std::string& key, const std::string& path) {
  const json& value = parent.at(key);
  if (!value.is_object()) {
    refuse(path, std::string("expected an object, got ") + type_name(value));
  }
  return value;
}

std::string string_at(const json& value, const std::string& path) {
  if (!value.is_string()) {
    refuse(path, std::string("expected a string, got ") + type_name(value));
  }
  return value.get<std::string>();
}

bool bool_at(const json& value, const std::string& path) {
  if (!value.is_boolean()) {
    refuse(path, std::string("expected true or false, got ") + type_name(value));
  }
  return value.get<bool>();
}

// Seconds (an integer or a fraction) as milliseconds; refuses negatives and absurd values.
std::chrono::milliseconds seconds_at(const json& value, const std::string& path, bool allow_zero) {
  if (!value.is_number()) {
    refuse(path, std::string("expected a number of seconds, got ") + type_name(value));
  }
  double seconds = value.get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || (!allow_zero && seconds == 0)) {
    refuse(path,
           allow_zero ? "expected a number of seconds >= 0" : "expected a number of seconds > 0");
  }
  if (seconds > 10.0 * 365 * 24 * 3600) {
    refuse(path, "more than ten years");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8, written as a dotted quad.
  if (host.rfind("127.", 0) != 0) {
    return false;
  }
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

// The host part of an http(s) URL (no user info allowed: credentials belong in the token).
std::string url_host(const std::string& url, std::size_t scheme_length, const std::string& path) {
  std::string rest = url.substr(scheme_length);
  std::string authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) {
    refuse(path, "no host in the URL");
  }
  if (authority.find('@') != std::string::npos) {
    refuse(path, "user information in the URL is not allowed (use callback.token)");
  }
  if (authority.front() == '[') {
    return authority.substr(0, authority.find(']') + 1);
  }
  return authority.substr(0, authority.find(':'));
}

void parse_program(const json& program, AgentProgram& out, const std::string& base_cwd) {
  only_keys(program, "program", {"argv", "cwd", "env", "stdin"});
  if (!program.contains("argv")) {
    refuse("program.argv", "missing");
  }
  const json& argv = program.at("argv");
  if (!argv.is_array()) {
    refuse("program.argv", std::string("expected an array of strings, got ") + type_name(argv));
  }
  if (argv.empty()) {
    refuse("program.argv", "must not be empty");
  }
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string path = "program.argv[" + std::to_string(i) + "]";
    std::string arg = string_at(argv[i], path);
    if (arg.find('\0') != std::string::npos) {
      refuse(path, "contains a NUL byte");
    }
    if (i == 0 && arg.empty()) {
      refuse(path, "must not be empty");
    }
    out.request.program.argv.push_back(std::move(arg));
  }
  std::string cwd = base_cwd;
  if (program.contains("cwd") && !program.at("cwd").is_null()) {
    cwd = string_at(program.at("cwd"), "program.cwd");
    if (cwd.empty() || cwd.front() != '/') {
      refuse("program.cwd", "expected an absolute path");
    }
    if (cwd.find('\0') != std::string::npos) {
      refuse("program.cwd", "contains a NUL byte");
    }
  }
  out.request.program.cwd = cwd;
  if (program.contains("env") && !program.at("env").is_null()) {
    const json& env = object_at(program, "env", "program.env");
    for (const auto& [name, value] : env.items()) {
      std::string path = "program.env." + name;
      if (name.empty() || name.find('=') != std::string::npos
          || name.find('\0') != std::string::npos) {
        refuse(path, "a name must be non-empty, without '=' or NUL");
      }
      std::string text = string_at(value, path);
      if (text.find('\0') != std::string::npos) {
        refuse(path, "contains a NUL byte");
      }
      out.request.program.env.emplace_back(name, std::move(text));
    }
  }
  if (program.contains("stdin") && !program.at("stdin").is_null()) {
    out.stdin_data = string_at(program.at("stdin"), "program.stdin");
  }
}

void parse_callback(const json& callback, AgentProgram& out) {
  only_keys(
      callback, "callback", {"url", "method", "token", "ca_file", "allow_http", "request_timeout"});
  CallbackConfig config;
  if (!callback.contains("url")) {
    refuse("callback.url", "missing");
  }
  config.url = string_at(callback.at("url"), "callback.url");
  while (!config.url.empty() && config.url.back() == '/') {
    config.url.pop_back();
  }
  if (callback.contains("allow_http")) {
    config.allow_http = bool_at(callback.at("allow_http"), "callback.allow_http");
  }
  if (config.url.rfind("https://", 0) == 0) {
    (void)url_host(config.url, 8, "callback.url");
  } else if (config.url.rfind("http://", 0) == 0) {
    std::string host = url_host(config.url, 7, "callback.url");
    if (!config.allow_http && !is_loopback_host(host)) {
      refuse("callback.url",
             "plain http is allowed only to a loopback address (use https, or set "
             "callback.allow_http to true)");
    }
  } else {
    refuse("callback.url", "expected an http:// or https:// URL");
  }
  for (char c : config.url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      refuse("callback.url", "contains a space or control character");
    }
  }
  if (callback.contains("method") && !callback.at("method").is_null()) {
    config.method = string_at(callback.at("method"), "callback.method");
    if (config.method != "POST" && config.method != "PUT") {
      refuse("callback.method",
             "expected \"POST\" or \"PUT\" (every callback request carries a body)");
    }
  }
  if (callback.contains("token") && !callback.at("token").is_null()) {
    const json& token = callback.at("token");
    if (!token.is_string()) {
      refuse("callback.token", std::string("expected a string, got ") + type_name(token));
    }
    std::string text = token.get<std::string>();
    for (char c : text) {
      // It goes into an HTTP header line.
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        refuse("callback.token", "contains a control character");
      }
    }
    out.token = std::move(text);
  }
  if (callback.contains("ca_file") && !callback.at("ca_file").is_null()) {
    config.ca_file = string_at(callback.at("ca_file"), "callback.ca_file");
    if (config.ca_file.empty() || config.ca_file.front() != '/') {
      refuse("callback.ca_file", "expected an absolute path");
    }
  }
  if (callback.contains("request_timeout")) {
    config.request_timeout =
        seconds_at(callback.at("request_timeout"), "callback.request_timeout", false);
  }
  out.callback = config;
}

void parse_config(const json& config, AgentProgram& out) {
  only_keys(config,
            "config",
            {"retry_frequency", "timeout", "output_buffer", "output_latency", "kill_after"});
  CallbackConfig delivery = out.callback.value_or(CallbackConfig{});
  if (config.contains("retry_frequency")) {
    delivery.retry_frequency =
        seconds_at(config.at("retry_frequency"), "config.retry_frequency", false);
  }
  if (config.contains("output_latency")) {
    delivery.output_latency =
        seconds_at(config.at("output_latency"), "config.output_latency", true);
  }
  if (config.contains("output_buffer")) {
    const json& value = config.at("output_buffer");
    if (!value.is_number_integer() || value.get<std::int64_t>() <= 0) {
      refuse("config.output_buffer", "expected a positive integer (bytes)");
    }
    delivery.output_buffer = value.get<std::uint64_t>();
  }
  if (config.contains("timeout") && !config.at("timeout").is_null()) {
    out.request.timeout = seconds_at(config.at("timeout"), "config.timeout", false);
  }
  if (config.contains("kill_after")) {
    out.request.kill_after = seconds_at(config.at("kill_after"), "config.kill_after", true);
  }
  if (out.callback) {
    out.callback->retry_frequency = delivery.retry_frequency;
    out.callback->output_latency = delivery.output_latency;
    out.callback->output_buffer = delivery.output_buffer;
  }
}

void parse_target(const json& target, cmdbuild::Target& out) {
  only_keys(
      target, "target", {"host", "port", "login", "sudo_user", "mode", "identity", "ssh_options"});
  if (target.contains("host")) {
    out.host = string_at(target.at("host"), "target.host");
  }
  if (target.contains("port")) {
    const json& port = target.at("port");
    if (!port.is_number_integer() || port.get<std::int64_t>() < 1
        || port.get<std::int64_t>() > 65535) {
      refuse("target.port", "expected an integer from 1 to 65535");
    }
    out.port = port.get<int>();
  }
  if (target.contains("login")) {
    out.login = string_at(target.at("login"), "target.login");
  }
  if (target.contains("sudo_user")) {
    out.sudo_user = string_at(target.at("sudo_user"), "target.sudo_user");
  }
  if (target.contains("identity")) {
    out.identity_file = string_at(target.at("identity"), "target.identity");
    if (out.identity_file.empty() || out.identity_file.front() != '/') {
      refuse("target.identity", "expected an absolute path");
    }
  }
  if (target.contains("ssh_options")) {
    const json& options = target.at("ssh_options");
    if (!options.is_array()) {
      refuse("target.ssh_options", "expected an array of \"Key=Value\" strings");
    }
    for (std::size_t i = 0; i < options.size(); ++i) {
      out.ssh_options.push_back(
          string_at(options[i], "target.ssh_options[" + std::to_string(i) + "]"));
    }
  }
  if (target.contains("mode")) {
    std::string mode = string_at(target.at("mode"), "target.mode");
    auto parsed = cmdbuild::parse_target_mode(mode);
    if (!parsed) {
      refuse("target.mode", "expected local, sudo, ssh, ssh-then-sudo or sudo-then-ssh");
    }
    out.mode = *parsed;
  } else {
    out.mode = cmdbuild::default_mode(!out.host.empty(), !out.sudo_user.empty());
  }
  if (out.mode == cmdbuild::TargetMode::local && (!out.host.empty() || !out.sudo_user.empty())) {
    refuse("target.mode", "local cannot be combined with host or sudo_user");
  }
}

} // namespace

nlohmann::json CallbackConfig::to_json() const {
  return {{"url", url},
          {"method", method},
          {"ca_file", ca_file.empty() ? json(nullptr) : json(ca_file)},
          {"allow_http", allow_http},
          {"request_timeout_ms", request_timeout.count()},
          {"retry_frequency_ms", retry_frequency.count()},
          {"output_buffer", output_buffer},
          {"output_latency_ms", output_latency.count()}};
}

CallbackConfig CallbackConfig::from_json(const nlohmann::json& json) {
  try {
    CallbackConfig config;
    config.url = json.at("url").get<std::string>();
    config.method = json.at("method").get<std::string>();
    config.ca_file = json.at("ca_file").is_null() ? "" : json.at("ca_file").get<std::string>();
    config.allow_http = json.at("allow_http").get<bool>();
    config.request_timeout =
        std::chrono::milliseconds(json.at("request_timeout_ms").get<std::int64_t>());
    config.retry_frequency =
        std::chrono::milliseconds(json.at("retry_frequency_ms").get<std::int64_t>());
    config.output_buffer = json.at("output_buffer").get<std::uint64_t>();
    config.output_latency =
        std::chrono::milliseconds(json.at("output_latency_ms").get<std::int64_t>());
    return config;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("callback.json: ") + e.what());
  }
}

AgentProgram parse_agent_program(std::string_view text, const std::string& base_cwd) {
  json document = json::parse(text, nullptr, false);
  if (document.is_discarded()) {
    // Name where, not what: the document may hold the token.
    try {
      json ignored = json::parse(text);
    } catch (const json::parse_error& e) {
      throw std::invalid_argument("program.json is not JSON (at byte " + std::to_string(e.byte)
                                  + ")");
    }
    throw std::invalid_argument("program.json is not JSON");
  }
  if (!document.is_object()) {
    throw std::invalid_argument(std::string("program.json: expected an object, got ")
                                + type_name(document));
  }
  only_keys(document, "", {"program", "callback", "config", "name", "target"});
  AgentProgram out;
  if (!document.contains("program")) {
    refuse("program", "missing");
  }
  parse_program(object_at(document, "program", "program"), out, base_cwd);
  if (document.contains("callback") && !document.at("callback").is_null()) {
    parse_callback(object_at(document, "callback", "callback"), out);
  }
  if (document.contains("config") && !document.at("config").is_null()) {
    parse_config(object_at(document, "config", "config"), out);
  }
  if (document.contains("name") && !document.at("name").is_null()) {
    out.request.run_id = string_at(document.at("name"), "name");
    if (auto problem = spool::run_id_problem(out.request.run_id)) {
      refuse("name", *problem);
    }
  }
  if (document.contains("target") && !document.at("target").is_null()) {
    parse_target(object_at(document, "target", "target"), out.request.target);
  }
  if (out.stdin_data && out.request.target.mode != cmdbuild::TargetMode::local) {
    refuse("program.stdin", "stdin data is supported for local targets only");
  }
  out.request.record_env = true;
  return out;
}

} // namespace chaperone
