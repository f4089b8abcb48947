// chaperone/target_json.cpp: Target <-> JSON.
#include "chaperone/supervisor/target_json.hpp"

#include <stdexcept>

namespace chaperone {

nlohmann::json target_to_json(const cmdbuild::Target& target) {
  nlohmann::json json = {{"mode", cmdbuild::to_string(target.mode)}};
  if (target.mode == cmdbuild::TargetMode::local) {
    return json;
  }
  json["host"] = target.host;
  json["port"] = target.port ? nlohmann::json(*target.port) : nlohmann::json(nullptr);
  json["login"] = target.login;
  json["sudo_user"] = target.sudo_user;
  json["identity_file"] = target.identity_file;
  json["ssh_options"] = target.ssh_options;
  json["control_path"] = target.control_path;
  json["connect_timeout"] = target.connect_timeout;
  json["server_alive_interval"] = target.server_alive_interval;
  json["server_alive_count_max"] = target.server_alive_count_max;
  return json;
}

cmdbuild::Target target_from_json(const nlohmann::json& json) {
  cmdbuild::Target target;
  try {
    auto mode = cmdbuild::parse_target_mode(json.at("mode").get<std::string>());
    if (!mode) {
      throw std::runtime_error("unknown target mode " + json.at("mode").dump());
    }
    target.mode = *mode;
    if (target.mode == cmdbuild::TargetMode::local) {
      return target;
    }
    target.host = json.value("host", "");
    if (json.contains("port") && !json["port"].is_null()) {
      target.port = json["port"].get<int>();
    }
    target.login = json.value("login", "");
    target.sudo_user = json.value("sudo_user", "");
    target.identity_file = json.value("identity_file", "");
    target.ssh_options = json.value("ssh_options", std::vector<std::string>{});
    target.control_path = json.value("control_path", "");
    target.connect_timeout = json.value("connect_timeout", target.connect_timeout);
    target.server_alive_interval =
        json.value("server_alive_interval", target.server_alive_interval);
    target.server_alive_count_max =
        json.value("server_alive_count_max", target.server_alive_count_max);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("spec.json target: ") + e.what());
  }
  return target;
}

} // namespace chaperone
