// spool/json_text.hpp: the spool's JSON text (state.json, spec.json), written straight from
// the values instead of through a copy of them as a nlohmann::json tree. The text is exactly
// what nlohmann::json::dump(2, ' ', false, error_handler_t::replace) makes of the same tree
// (tests/unit/spool/json_text_test.cpp compares the two): keys in std::map order, two spaces
// a level, UTF-8 kept, invalid UTF-8 replaced by U+FFFD.
//
// Why: the supervisor writes state.json two or three times a run and the front end once, all
// on the way to an attached run's exit status; building the tree first (a deep copy of argv,
// rusage and the extra fields) and dumping it took ~50,000 instructions a write
// (docs/bench/LAUNCH-2026-12-04b.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace chaperone::spool {

// Appends `text` as a JSON string (quotes included).
void append_json_string(std::string& out, std::string_view text);

// Appends `value` as dump(2, ...) would render it nested `depth` levels deep: its first line
// is not indented (the caller has written the key), its closing bracket is at 2 * depth.
void append_json_value(std::string& out, const nlohmann::json& value, int depth);

// Writes one JSON object field by field, at nesting `depth`. The caller gives the keys in
// the order a std::map would hold them (sorted, no repeats), as dump() writes them.
class JsonObjectText {
public:
  JsonObjectText(std::string& out, int depth) : m_out(out), m_depth(depth) {}

  // Starts the field `name`; its value is appended next (by the calls below or by
  // append_json_value(out, value, depth() + 1)).
  void key(std::string_view name);
  void null_value() { m_out += "null"; }
  void string_value(std::string_view text) { append_json_string(m_out, text); }
  void number_value(std::int64_t number);
  void number_value(std::uint64_t number);
  void json_value(const nlohmann::json& json) { append_json_value(m_out, json, m_depth + 1); }
  // Closes the object ("{}" if no field was written).
  void close();

  std::string& out() { return m_out; }
  int depth() const { return m_depth; }

private:
  std::string& m_out;
  int m_depth;
  bool m_empty = true;
};

} // namespace chaperone::spool
