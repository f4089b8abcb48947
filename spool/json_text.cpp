// spool/json_text.cpp: see json_text.hpp.
#include "spool/json_text.hpp"

#include <charconv>

namespace chaperone::spool {

namespace {

void indent(std::string& out, int depth) {
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

template <typename Number> void append_number(std::string& out, Number number) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, end);
}

} // namespace

void append_json_string(std::string& out, std::string_view text) {
  // Printable ASCII other than '"' and '\\' is written as it is, which is what dump() does
  // with it; anything else (escapes, UTF-8, invalid bytes) is left to dump() itself.
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '"' || c == '\\') {
      out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out.append(text);
  out += '"';
}

void append_json_value(std::string& out, const nlohmann::json& value, int depth) {
  switch (value.type()) {
  case nlohmann::json::value_t::null:
    out += "null";
    return;
  case nlohmann::json::value_t::boolean:
    out += value.get<bool>() ? "true" : "false";
    return;
  case nlohmann::json::value_t::number_integer:
    append_number(out, value.get<std::int64_t>());
    return;
  case nlohmann::json::value_t::number_unsigned:
    append_number(out, value.get<std::uint64_t>());
    return;
  case nlohmann::json::value_t::string:
    append_json_string(out, value.get_ref<const std::string&>());
    return;
  case nlohmann::json::value_t::object: {
    JsonObjectText object(out, depth);
    for (const auto& [name, field] : value.get_ref<const nlohmann::json::object_t&>()) {
      object.key(name);
      object.json_value(field);
    }
    object.close();
    return;
  }
  case nlohmann::json::value_t::array: {
    if (value.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const nlohmann::json& element : value) {
      if (!first) {
        out += ",\n";
      }
      first = false;
      indent(out, depth + 1);
      append_json_value(out, element, depth + 1);
    }
    out += '\n';
    indent(out, depth);
    out += ']';
    return;
  }
  default: {
    // Floating point (grisu2 and dump()'s own rules for "1.0", NaN as null) and the rest:
    // dump() itself, its lines moved to this depth.
    std::string text = value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    for (char c : text) {
      out += c;
      if (c == '\n') {
        indent(out, depth);
      }
    }
    return;
  }
  }
}

void JsonObjectText::key(std::string_view name) {
  m_out += m_empty ? "{\n" : ",\n";
  m_empty = false;
  indent(m_out, m_depth + 1);
  append_json_string(m_out, name);
  m_out += ": ";
}

void JsonObjectText::number_value(std::int64_t number) {
  append_number(m_out, number);
}

void JsonObjectText::number_value(std::uint64_t number) {
  append_number(m_out, number);
}

void JsonObjectText::close() {
  if (m_empty) {
    m_out += "{}";
    return;
  }
  m_out += '\n';
  indent(m_out, m_depth);
  m_out += '}';
}

} // namespace chaperone::spool
