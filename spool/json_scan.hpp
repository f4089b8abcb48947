// spool/json_scan.hpp: a JSON reader for the spool's own small files (state.json), handing
// its events to a handler with nlohmann::json's SAX interface (null, boolean, number_integer,
// number_unsigned, number_float, string, start_object, key, end_object, start_array,
// end_array). It accepts exactly what nlohmann::json::parse accepts (RFC 8259, UTF-8 checked,
// a leading byte order mark skipped, nothing but white space after the value up to the end
// or a NUL byte) and gives the same values (integers as int64 or uint64 while they fit, else
// double; a double that overflows refused), so a handler sees what nlohmann's own SAX parser
// would show it. Containers are tracked on a stack, not by recursion: any depth is read.
// tests/unit/spool/state_read_test.cpp and the state_parser fuzz target hold it to that.
//
// Why: nlohmann's lexer keeps a copy of every token and decodes byte by byte through an
// input adapter: ~55,000 instructions for a 771-byte state.json, read by every attached run
// on its way to the exit status (docs/bench/LAUNCH-2026-12-04b.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::spool {

namespace json_scan_detail {

class Cursor {
public:
  explicit Cursor(std::string_view text) : m_text(text) {}
  bool at_end() const { return m_pos >= m_text.size(); }
  char peek() const { return at_end() ? '\0' : m_text[m_pos]; }
  unsigned char byte_at(std::size_t offset) const {
    return m_pos + offset < m_text.size() ? static_cast<unsigned char>(m_text[m_pos + offset]) : 0;
  }
  void advance(std::size_t count = 1) { m_pos += count; }
  void skip_space() {
    while (!at_end()) {
      char c = m_text[m_pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      ++m_pos;
    }
  }
  bool take(std::string_view word) {
    if (m_text.substr(m_pos, word.size()) != word) {
      return false;
    }
    m_pos += word.size();
    return true;
  }
  std::string_view rest() const { return m_text.substr(m_pos); }

private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

// A string's body after its opening quote, up to and including the closing one, decoded
// into `out`. False on a control byte, a bad escape or invalid UTF-8.
bool read_string(Cursor& in, std::string& out);

enum class NumberKind { integer, unsigned_integer, floating, invalid };
struct Number {
  NumberKind kind = NumberKind::invalid;
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double floating = 0;
};
Number read_number(Cursor& in);

template <typename Handler> bool hand_number(const Number& number, Handler& handler) {
  switch (number.kind) {
  case NumberKind::integer:
    return handler.number_integer(number.integer);
  case NumberKind::unsigned_integer:
    return handler.number_unsigned(number.unsigned_integer);
  case NumberKind::floating:
    return handler.number_float(number.floating, std::string());
  case NumberKind::invalid:
    break;
  }
  return false;
}

} // namespace json_scan_detail

// Reads `text` and calls `handler` for each event; false (the handler called no further) at
// the first thing nlohmann::json::parse would refuse, or when the handler returns false.
template <typename Handler> bool scan_json(std::string_view text, Handler& handler) {
  using namespace json_scan_detail;
  Cursor in(text);
  if (in.byte_at(0) == 0xEF) {
    if (!in.take("\xEF\xBB\xBF")) {
      return false;
    }
  }
  std::vector<char> open; // '{' or '[' for each container we are in
  std::string text_value;
  bool just_opened = false;
  for (;;) {
    in.skip_space();
    bool closed_empty = false;
    if (!open.empty()) {
      char closing = open.back() == '{' ? '}' : ']';
      if (just_opened && in.peek() == closing) {
        in.advance();
        open.pop_back();
        if (!(closing == '}' ? handler.end_object() : handler.end_array())) {
          return false;
        }
        closed_empty = true;
      } else if (open.back() == '{') {
        // A key, its colon, then its value below.
        if (in.peek() != '"') {
          return false;
        }
        in.advance();
        text_value.clear();
        if (!read_string(in, text_value) || !handler.key(text_value)) {
          return false;
        }
        in.skip_space();
        if (in.peek() != ':') {
          return false;
        }
        in.advance();
        in.skip_space();
      }
    }
    just_opened = false;
    if (!closed_empty) {
      switch (in.peek()) {
      case '{':
      case '[': {
        char bracket = in.peek();
        in.advance();
        auto unknown_size = static_cast<std::size_t>(-1); // as nlohmann's parser says
        if (!(bracket == '{' ? handler.start_object(unknown_size)
                             : handler.start_array(unknown_size))) {
          return false;
        }
        open.push_back(bracket);
        just_opened = true;
        continue;
      }
      case '"':
        in.advance();
        text_value.clear();
        if (!read_string(in, text_value) || !handler.string(text_value)) {
          return false;
        }
        break;
      case 't':
        if (!in.take("true") || !handler.boolean(true)) {
          return false;
        }
        break;
      case 'f':
        if (!in.take("false") || !handler.boolean(false)) {
          return false;
        }
        break;
      case 'n':
        if (!in.take("null") || !handler.null()) {
          return false;
        }
        break;
      default:
        if (!hand_number(read_number(in), handler)) {
          return false;
        }
        break;
      }
    }
    // After a value: its container goes on (','), ends, or, at the top, the text ends.
    for (;;) {
      in.skip_space();
      if (open.empty()) {
        // nlohmann's lexer takes a NUL byte for the end of the input: what follows one is
        // never read.
        return in.at_end() || in.peek() == '\0';
      }
      char closing = open.back() == '{' ? '}' : ']';
      if (in.peek() == ',') {
        in.advance();
        break;
      }
      if (in.peek() != closing) {
        return false;
      }
      in.advance();
      open.pop_back();
      if (!(closing == '}' ? handler.end_object() : handler.end_array())) {
        return false;
      }
    }
  }
}

} // namespace chaperone::spool
