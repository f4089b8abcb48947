// spool/state_fields.hpp: state.json's own top-level fields (RunState's members), one table for
// its writer (state.cpp, RunState::to_text) and its reader (state_read.cpp): a name in it is
// never kept as an `extra` field.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace chaperone::spool::state_fields {

enum class Field {
  boot_id,
  end_time,
  error,
  exit_code,
  output,
  pgid,
  pid,
  pid_start_ticks,
  program,
  return_code,
  run_id,
  rusage,
  signal,
  start_time,
  state,
  supervisor_pid,
  supervisor_start_ticks,
  target,
};

// In the order std::map keeps the names, which is the order dump() writes them in.
inline constexpr std::array<std::pair<std::string_view, Field>, 18> k_fields{{
    {"boot_id", Field::boot_id},
    {"end_time", Field::end_time},
    {"error", Field::error},
    {"exit_code", Field::exit_code},
    {"output", Field::output},
    {"pgid", Field::pgid},
    {"pid", Field::pid},
    {"pid_start_ticks", Field::pid_start_ticks},
    {"program", Field::program},
    {"return_code", Field::return_code},
    {"run_id", Field::run_id},
    {"rusage", Field::rusage},
    {"signal", Field::signal},
    {"start_time", Field::start_time},
    {"state", Field::state},
    {"supervisor_pid", Field::supervisor_pid},
    {"supervisor_start_ticks", Field::supervisor_start_ticks},
    {"target", Field::target},
}};

constexpr std::optional<Field> own_field(std::string_view name) {
  for (const auto& [field_name, field] : k_fields) {
    if (field_name == name) {
      return field;
    }
  }
  return std::nullopt;
}

} // namespace chaperone::spool::state_fields
