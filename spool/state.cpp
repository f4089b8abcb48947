// spool/state.cpp: state.json <-> RunState.
#include "spool/state.hpp"

#include "spool/json_text.hpp"
#include "spool/state_fields.hpp"

#include <array>
#include <optional>
#include <string_view>
#include <type_traits>
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

namespace {

using state_fields::Field;

template <typename T> void write_optional(JsonObjectText& object, const std::optional<T>& value) {
  if (!value) {
    object.null_value();
    return;
  }
  if constexpr (std::is_same_v<T, std::string>) {
    object.string_value(*value);
  } else if constexpr (std::is_signed_v<T>) {
    object.number_value(static_cast<std::int64_t>(*value));
  } else {
    object.number_value(static_cast<std::uint64_t>(*value));
  }
}

void write_time(JsonObjectText& object, const std::string& time) {
  if (time.empty()) {
    object.null_value();
  } else {
    object.string_value(time);
  }
}

void write_field(JsonObjectText& object, const RunState& s, Field field) {
  switch (field) {
  case Field::boot_id:
    return object.string_value(s.boot_id);
  case Field::end_time:
    return write_time(object, s.end_time);
  case Field::error:
    return write_optional(object, s.error);
  case Field::exit_code:
    return write_optional(object, s.exit_code);
  case Field::output: {
    JsonObjectText output(object.out(), object.depth() + 1);
    output.key("stderr");
    output.number_value(s.stderr_bytes);
    output.key("stdout");
    output.number_value(s.stdout_bytes);
    return output.close();
  }
  case Field::pgid:
    return write_optional(object, s.pgid);
  case Field::pid:
    return write_optional(object, s.pid);
  case Field::pid_start_ticks:
    return write_optional(object, s.pid_start_ticks);
  case Field::program:
    return object.json_value(s.program);
  case Field::return_code:
    return write_optional(object, s.return_code);
  case Field::run_id:
    return object.string_value(s.run_id);
  case Field::rusage:
    return object.json_value(s.rusage);
  case Field::signal:
    return write_optional(object, s.signal);
  case Field::start_time:
    return write_time(object, s.start_time);
  case Field::state:
    return object.string_value(to_string(s.state));
  case Field::supervisor_pid:
    return write_optional(object, s.supervisor_pid);
  case Field::supervisor_start_ticks:
    return write_optional(object, s.supervisor_start_ticks);
  case Field::target:
    return object.json_value(s.target);
  }
}

} // namespace

std::string RunState::to_text() const {
  std::string out;
  out.reserve(1024);
  JsonObjectText object(out, 0);
  // The extra fields and our own, merged in key order; ours win a name both have, as in
  // to_json() (which assigns them over a copy of `extra`).
  static const nlohmann::json::object_t k_no_extra;
  const nlohmann::json::object_t& others =
      extra.is_object() ? extra.get_ref<const nlohmann::json::object_t&>() : k_no_extra;
  auto other = others.begin();
  auto write_others_before = [&](std::optional<std::string_view> limit) {
    for (; other != others.end() && (!limit || std::string_view(other->first) < *limit); ++other) {
      if (!state_fields::own_field(other->first)) {
        object.key(other->first);
        object.json_value(other->second);
      }
    }
  };
  for (const auto& [name, field] : state_fields::k_fields) {
    write_others_before(name);
    object.key(name);
    write_field(object, *this, field);
  }
  write_others_before(std::nullopt);
  object.close();
  out += '\n';
  return out;
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
