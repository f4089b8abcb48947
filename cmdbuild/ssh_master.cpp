// cmdbuild/ssh_master.cpp: the automatic ssh master of durable remote runs.
#include "cmdbuild/ssh_master.hpp"

#include <cstdint>

namespace chaperone::cmdbuild {

namespace {

// ssh's option keywords are case-insensitive.
bool option_is(const std::string& option, std::string_view key) {
  if (option.size() <= key.size() || option[key.size()] != '=') {
    return false;
  }
  for (size_t i = 0; i < key.size(); ++i) {
    char c = option[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != key[i]) {
      return false;
    }
  }
  return true;
}

} // namespace

bool may_share_master(const Target& target) {
  if (target.mode != TargetMode::ssh && target.mode != TargetMode::ssh_then_sudo) {
    return false;
  }
  if (!target.control_path.empty() || !target.control_master.empty()) {
    return false;
  }
  for (const std::string& option : target.ssh_options) {
    if (option_is(option, "controlpath") || option_is(option, "controlmaster")) {
      return false;
    }
  }
  return true;
}

std::string master_socket_name(const Target& target) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto add = [&hash](std::string_view text) {
    for (unsigned char c : text) {
      hash = (hash ^ c) * 0x100000001b3ULL;
    }
    hash = (hash ^ 0xffU) * 0x100000001b3ULL; // a separator no text byte can fake
  };
  add(target.ssh_program);
  add(target.login);
  add(target.host);
  add(target.port ? std::to_string(*target.port) : std::string());
  add(target.identity_file);
  for (const std::string& option : target.ssh_options) {
    add(option);
  }
  add(std::to_string(target.connect_timeout));
  add(std::to_string(target.server_alive_interval));
  add(std::to_string(target.server_alive_count_max));
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string name = "cm-";
  for (int shift = 60; shift >= 0; shift -= 4) {
    name.push_back(k_hex[(hash >> shift) & 0xf]);
  }
  return name;
}

bool usable_master_path(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.size() > k_max_master_path) {
    return false;
  }
  for (unsigned char c : path) {
    if (c == '%' || c <= 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

Target via_master(Target target, const std::string& socket) {
  target.control_path = socket;
  target.control_master = "no";
  return target;
}

std::vector<std::string> master_start_command(Target target, const std::string& socket) {
  target.control_path = socket;
  target.control_master = "yes";
  target.control_persist = std::string(k_master_persist);
  target.ssh_options.emplace_back("SessionType=none");
  target.ssh_options.emplace_back("ForkAfterAuthentication=yes");
  return build_ssh_destination(target);
}

} // namespace chaperone::cmdbuild
