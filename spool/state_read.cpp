// spool/state_read.cpp: state.json -> RunState, from a parsed tree (RunState::from_json) or
// straight from the text (RunState::from_text). Both hand each top-level field to one
// FieldReader, so they accept the same files and name the same problem in those they refuse.
//
// from_text builds no tree for the fields it reads itself, only for the subtrees RunState
// keeps as JSON (program, target, rusage, unknown fields): a state read was ~120,000
// instructions, most of them the map of the whole document (docs/bench/LAUNCH-2026-12-04b.md).
#include "spool/json_scan.hpp"
#include "spool/printable.hpp"
#include "spool/state.hpp"
#include "spool/state_fields.hpp"

#include <array>
#include <cstddef>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace chaperone::spool {

namespace {

// The order in which from_json has always checked the fields it reads: of several problems
// in one file, the first in this order is the one reported.
enum Check : std::size_t {
  check_run_id,
  check_state,
  check_boot_id,
  check_supervisor_pid,
  check_supervisor_start_ticks,
  check_pid,
  check_pgid,
  check_pid_start_ticks,
  check_return_code,
  check_signal,
  check_exit_code,
  check_start_time,
  check_end_time,
  check_error,
  check_stdout,
  check_stderr,
  check_count,
};

// Fills a RunState one top-level field at a time, in any order. A field given twice counts
// once, with its last value (as in a parsed tree): its earlier value's problem is forgotten.
class FieldReader {
public:
  void field(const std::string& key, nlohmann::json&& value);
  RunState finish();

private:
  template <typename T>
  std::optional<T> read(const nlohmann::json& value, const char* key, Check check);
  std::string read_string(const nlohmann::json& value, const char* key, Check check) {
    return read<std::string>(value, key, check).value_or("");
  }
  void read_state(const nlohmann::json& value);
  void read_output(const nlohmann::json& value);

  RunState m_state;
  bool m_state_known = false;
  std::array<std::string, check_count> m_problems; // empty: none
};

template <typename T>
std::optional<T> FieldReader::read(const nlohmann::json& value, const char* key, Check check) {
  m_problems[check].clear();
  if (value.is_null()) {
    return std::nullopt;
  }
  if constexpr (std::is_integral_v<T>) {
    // nlohmann converts a double to an integer with a plain cast, undefined (and in practice
    // any number) outside the integer's range: such a number is refused, as a string is.
    if (value.is_number_float()) {
      double number = value.get<double>();
      if (!(number > static_cast<double>(std::numeric_limits<T>::min()) - 1.0
            && number < static_cast<double>(std::numeric_limits<T>::max()) + 1.0)) {
        m_problems[check] = std::string("field \"") + key + "\" has the wrong type";
        return std::nullopt;
      }
    }
  }
  try {
    return value.get<T>();
  } catch (const nlohmann::json::exception&) {
    m_problems[check] = std::string("field \"") + key + "\" has the wrong type";
    return std::nullopt;
  }
}

void FieldReader::read_state(const nlohmann::json& value) {
  m_state_known = false;
  std::optional<std::string> name = read<std::string>(value, "state", check_state);
  if (!name) {
    if (m_problems[check_state].empty()) {
      m_problems[check_state] = "field \"state\" is missing";
    }
    return;
  }
  std::optional<RunStatus> status = parse_run_status(*name);
  if (!status) {
    m_problems[check_state] = "unknown state \"" + printable(*name) + "\"";
    return;
  }
  m_state.state = *status;
  m_state_known = true;
}

void FieldReader::read_output(const nlohmann::json& value) {
  m_state.stdout_bytes = 0;
  m_state.stderr_bytes = 0;
  m_problems[check_stdout].clear();
  m_problems[check_stderr].clear();
  if (!value.is_object()) {
    return;
  }
  static const nlohmann::json k_null;
  auto member = [&value](const char* name) -> const nlohmann::json& {
    auto it = value.find(name);
    return it == value.end() ? k_null : *it;
  };
  m_state.stdout_bytes = read<std::uint64_t>(member("stdout"), "stdout", check_stdout).value_or(0);
  m_state.stderr_bytes = read<std::uint64_t>(member("stderr"), "stderr", check_stderr).value_or(0);
}

void FieldReader::field(const std::string& key, nlohmann::json&& value) {
  RunState& s = m_state;
  std::optional<state_fields::Field> field = state_fields::own_field(key);
  if (!field) {
    s.extra[key] = std::move(value);
    return;
  }
  const char* name = key.c_str();
  using state_fields::Field;
  switch (*field) {
  case Field::run_id:
    s.run_id = read_string(value, name, check_run_id);
    return;
  case Field::state:
    read_state(value);
    return;
  case Field::program:
    s.program = std::move(value);
    return;
  case Field::target:
    s.target = std::move(value);
    return;
  case Field::boot_id:
    s.boot_id = read_string(value, name, check_boot_id);
    return;
  case Field::supervisor_pid:
    s.supervisor_pid = read<pid_t>(value, name, check_supervisor_pid);
    return;
  case Field::supervisor_start_ticks:
    s.supervisor_start_ticks = read<std::uint64_t>(value, name, check_supervisor_start_ticks);
    return;
  case Field::pid:
    s.pid = read<pid_t>(value, name, check_pid);
    return;
  case Field::pgid:
    s.pgid = read<pid_t>(value, name, check_pgid);
    return;
  case Field::pid_start_ticks:
    s.pid_start_ticks = read<std::uint64_t>(value, name, check_pid_start_ticks);
    return;
  case Field::return_code:
    s.return_code = read<int>(value, name, check_return_code);
    return;
  case Field::signal:
    s.signal = read<int>(value, name, check_signal);
    return;
  case Field::exit_code:
    s.exit_code = read<int>(value, name, check_exit_code);
    return;
  case Field::rusage:
    s.rusage = std::move(value);
    return;
  case Field::start_time:
    s.start_time = read_string(value, name, check_start_time);
    return;
  case Field::end_time:
    s.end_time = read_string(value, name, check_end_time);
    return;
  case Field::error:
    s.error = read<std::string>(value, name, check_error);
    return;
  case Field::output:
    read_output(value);
    return;
  }
}

RunState FieldReader::finish() {
  if (!m_state_known && m_problems[check_state].empty()) {
    m_problems[check_state] = "field \"state\" is missing";
  }
  for (const std::string& problem : m_problems) {
    if (!problem.empty()) {
      throw std::runtime_error(problem);
    }
  }
  return std::move(m_state);
}

// nlohmann's SAX events, turned into FieldReader::field calls: a scalar top-level field is
// handed over as it is; a container one is built (as nlohmann's own DOM parser builds it)
// and handed over when it closes.
class StateSax {
public:
  explicit StateSax(FieldReader& reader) : m_reader(reader) {}

  bool null() { return scalar(nullptr); }
  bool boolean(bool value) { return scalar(value); }
  bool number_integer(nlohmann::json::number_integer_t value) { return scalar(value); }
  bool number_unsigned(nlohmann::json::number_unsigned_t value) { return scalar(value); }
  bool number_float(nlohmann::json::number_float_t value, const std::string& /*text*/) {
    return scalar(value);
  }
  bool string(std::string& value) { return scalar(std::move(value)); }
  bool binary(nlohmann::json::binary_t& value) {
    return scalar(nlohmann::json::binary(std::move(value)));
  }
  bool start_object(std::size_t /*elements*/) { return open(nlohmann::json::object()); }
  bool start_array(std::size_t /*elements*/) { return open(nlohmann::json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& name) {
    (m_depth == 1 ? m_field : m_key) = std::move(name);
    return true;
  }
  template <typename Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const Exception&) {
    return false;
  }

  bool saw_object() const { return m_saw_object; }

private:
  bool scalar(nlohmann::json&& value) {
    if (!m_saw_object) {
      return true; // a top-level scalar, or inside a top-level array: no state
    }
    if (m_depth == 1) {
      m_reader.field(m_field, std::move(value));
    } else {
      place(std::move(value));
    }
    return true;
  }

  bool open(nlohmann::json&& container) {
    if (m_ignored_depth > 0) {
      ++m_ignored_depth;
      return true;
    }
    if (m_depth == 0) {
      if (!container.is_object()) {
        m_ignored_depth = 1; // a top-level array: parsed to the end, kept nowhere
        return true;
      }
      m_saw_object = true;
      m_depth = 1;
      return true;
    }
    if (m_depth == 1) {
      m_tree = std::move(container);
      m_stack.assign(1, &m_tree);
    } else {
      m_stack.push_back(place(std::move(container)));
    }
    ++m_depth;
    return true;
  }

  bool close() {
    if (m_ignored_depth > 0) {
      --m_ignored_depth;
      return true;
    }
    --m_depth;
    if (m_depth == 1) {
      m_stack.clear();
      m_reader.field(m_field, std::move(m_tree));
    } else if (m_depth > 1) {
      m_stack.pop_back();
    }
    return true;
  }

  // Puts a value into the open container (as nlohmann's DOM parser: a repeated key keeps the
  // last value) and returns where it is now.
  nlohmann::json* place(nlohmann::json&& value) {
    nlohmann::json& parent = *m_stack.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    nlohmann::json& slot = parent[m_key];
    slot = std::move(value);
    return &slot;
  }

  FieldReader& m_reader;
  int m_depth = 0;         // containers open, the top-level object being 1
  int m_ignored_depth = 0; // inside a top-level array
  bool m_saw_object = false;
  std::string m_field; // the top-level field being read
  std::string m_key;   // the key inside a subtree
  nlohmann::json m_tree;
  std::vector<nlohmann::json*> m_stack;
};

} // namespace

RunState RunState::from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    throw std::runtime_error("not a JSON object");
  }
  FieldReader reader;
  for (const auto& [key, value] : json.get_ref<const nlohmann::json::object_t&>()) {
    reader.field(key, nlohmann::json(value));
  }
  return reader.finish();
}

RunState RunState::from_text(std::string_view text) {
  FieldReader reader;
  StateSax sax(reader);
  if (!scan_json(text, sax)) {
    throw NotJson("not valid JSON");
  }
  if (!sax.saw_object()) {
    throw std::runtime_error("not a JSON object");
  }
  return reader.finish();
}

} // namespace chaperone::spool
