// spool/state.cpp: state.json <-> RunState.
#include "spool/state.hpp"

#include "spool/printable.hpp"

#include <array>
#include <stdexcept>
#include <utility>

namespace chaperone::spool {

namespace {

constexpr std::array<std::pair<RunStatus, const char*>, 9> k_status_names{{
    {RunStatus::starting, "starting"},
    {RunStatus::waiting, "waiting"},
    {RunStatus::running, "running"},
    {RunStatus::exited, "exited"},
    {RunStatus::signaled, "signaled"},
    {RunStatus::timed_out, "timed_out"},
    {RunStatus::failed, "failed"},
    {RunStatus::lost, "lost"},
    {RunStatus::skipped, "skipped"},
}};

template <typename T> nlohmann::json optional_to_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

template <typename T>
std::optional<T> optional_from_json(const nlohmann::json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    return std::nullopt;
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(std::string("field \"") + key + "\" has the wrong type");
  }
}

std::string string_or_empty(const nlohmann::json& json, const char* key) {
  return optional_from_json<std::string>(json, key).value_or("");
}

} // namespace

std::string to_string(RunStatus status) {
  for (const auto& [value, name] : k_status_names) {
    if (value == status) {
      return name;
    }
  }
  return "unknown";
}

std::optional<RunStatus> parse_run_status(const std::string& text) {
  for (const auto& [value, name] : k_status_names) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

bool is_final(RunStatus status) {
  return status != RunStatus::starting && status != RunStatus::waiting
         && status != RunStatus::running;
}

nlohmann::json RunState::to_json() const {
  nlohmann::json json = extra.is_object() ? extra : nlohmann::json::object();
  json["run_id"] = run_id;
  json["state"] = to_string(state);
  json["program"] = program;
  json["target"] = target;
  json["boot_id"] = boot_id;
  json["supervisor_pid"] = optional_to_json(supervisor_pid);
  json["supervisor_start_ticks"] = optional_to_json(supervisor_start_ticks);
  json["pid"] = optional_to_json(pid);
  json["pgid"] = optional_to_json(pgid);
  json["pid_start_ticks"] = optional_to_json(pid_start_ticks);
  json["return_code"] = optional_to_json(return_code);
  json["signal"] = optional_to_json(signal);
  json["exit_code"] = optional_to_json(exit_code);
  json["rusage"] = rusage;
  json["start_time"] = start_time.empty() ? nlohmann::json(nullptr) : nlohmann::json(start_time);
  json["end_time"] = end_time.empty() ? nlohmann::json(nullptr) : nlohmann::json(end_time);
  json["error"] = optional_to_json(error);
  json["output"] = {{"stdout", stdout_bytes}, {"stderr", stderr_bytes}};
  return json;
}

RunState RunState::from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    throw std::runtime_error("not a JSON object");
  }
  RunState s;
  s.run_id = string_or_empty(json, "run_id");
  auto state_name = optional_from_json<std::string>(json, "state");
  if (!state_name) {
    throw std::runtime_error("field \"state\" is missing");
  }
  auto status = parse_run_status(*state_name);
  if (!status) {
    throw std::runtime_error("unknown state \"" + printable(*state_name) + "\"");
  }
  s.state = *status;
  if (auto it = json.find("program"); it != json.end()) {
    s.program = *it;
  }
  if (auto it = json.find("target"); it != json.end()) {
    s.target = *it;
  }
  s.boot_id = string_or_empty(json, "boot_id");
  s.supervisor_pid = optional_from_json<pid_t>(json, "supervisor_pid");
  s.supervisor_start_ticks = optional_from_json<std::uint64_t>(json, "supervisor_start_ticks");
  s.pid = optional_from_json<pid_t>(json, "pid");
  s.pgid = optional_from_json<pid_t>(json, "pgid");
  s.pid_start_ticks = optional_from_json<std::uint64_t>(json, "pid_start_ticks");
  s.return_code = optional_from_json<int>(json, "return_code");
  s.signal = optional_from_json<int>(json, "signal");
  s.exit_code = optional_from_json<int>(json, "exit_code");
  if (auto it = json.find("rusage"); it != json.end()) {
    s.rusage = *it;
  }
  s.start_time = string_or_empty(json, "start_time");
  s.end_time = string_or_empty(json, "end_time");
  s.error = optional_from_json<std::string>(json, "error");
  if (auto it = json.find("output"); it != json.end() && it->is_object()) {
    s.stdout_bytes = optional_from_json<std::uint64_t>(*it, "stdout").value_or(0);
    s.stderr_bytes = optional_from_json<std::uint64_t>(*it, "stderr").value_or(0);
  }
  static const char* const k_known[] = {"run_id",
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
                                        "output"};
  // Only the fields not read above are copied: a copy of the whole tree, then erasing
  // the known ones, took a third of a state read (docs/bench/LAUNCH-2026-12-04.md).
  s.extra = nlohmann::json::object();
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    bool known = false;
    for (const char* name : k_known) {
      if (key == name) {
        known = true;
        break;
      }
    }
    if (!known) {
      s.extra.emplace(key, *it);
    }
  }
  return s;
}

int RunState::cli_exit_code() const {
  if (exit_code) {
    return *exit_code;
  }
  switch (state) {
  case RunStatus::exited:
    return return_code.value_or(k_exit_chaperone_failed);
  case RunStatus::signaled:
    return 128 + signal.value_or(0);
  case RunStatus::timed_out:
    return k_exit_timed_out;
  case RunStatus::skipped:
    return k_exit_skipped;
  default:
    return k_exit_chaperone_failed;
  }
}

} // namespace chaperone::spool
