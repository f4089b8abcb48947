// chaperone/client/agent_state.cpp: state.json in the seed agent's field names.
#include "chaperone/client/agent_state.hpp"

#include <initializer_list>
#include <utility>

namespace chaperone {

namespace {

using nlohmann::json;

template <typename T> json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json or_null(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

} // namespace

nlohmann::ordered_json agent_state(const spool::RunDir& run, const spool::RunState& state) {
  json spec = run.read_spec();
  json spec_program = spec.value("program", json::object());
  json program = {{"argv", spec_program.value("argv", json::array())},
                  {"cwd", spec_program.value("cwd", json(nullptr))},
                  {"env", spec_program.value("env", json::object())},
                  {"stdin", nullptr}};
  std::string stdin_path = spec_program.value("stdin", std::string("/dev/null"));
  if (stdin_path != "/dev/null") {
    std::error_code error;
    auto size = std::filesystem::file_size(stdin_path, error);
    program["stdin"] = {{"path", stdin_path}, {"bytes", error ? json(nullptr) : json(size)}};
  }
  // The raw wait status, as wait(2) gives it (the seed's `status`): code << 8, or the signal.
  json status = nullptr;
  if (spool::is_final(state.state)) {
    if (state.signal) {
      status = *state.signal;
    } else if (state.return_code) {
      status = (*state.return_code & 0xFF) << 8;
    }
  }
  nlohmann::ordered_json object;
  for (const auto& [key, value] : std::initializer_list<std::pair<const char*, json>>{
           {"proc_id", state.run_id},
           {"state", spool::to_string(state.state)},
           {"program", program},
           {"agent_pid", or_null(state.supervisor_pid)},
           {"pid", or_null(state.pid)},
           {"exception", or_null(state.error)},
           {"status", status},
           {"return_code", or_null(state.return_code)},
           {"signal", or_null(state.signal)},
           {"rusage", state.rusage},
           {"start_time", or_null(state.start_time)},
           {"end_time", or_null(state.end_time)},
           // chaperone's own, beside the seed's fields:
           {"exit_code",
            spool::is_final(state.state) ? json(state.cli_exit_code()) : json(nullptr)},
           {"output", {{"stdout", state.stdout_bytes}, {"stderr", state.stderr_bytes}}}}) {
    object[key] = value;
  }
  return object;
}

} // namespace chaperone
