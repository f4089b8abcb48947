// spool/json_scan.cpp: strings and numbers for scan_json (json_scan.hpp), with the rules
// nlohmann's lexer applies to them.
#include "spool/json_scan.hpp"

#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdlib>

namespace chaperone::spool::json_scan_detail {

namespace {

int hex_digit(unsigned char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// The four hex digits after "\u"; -1 if they are not.
long read_hex4(Cursor& in) {
  long value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    int digit = hex_digit(in.byte_at(i)); // past the end: 0, not a digit
    if (digit < 0) {
      return -1;
    }
    value = value * 16 + digit;
  }
  in.advance(4);
  return value;
}

void append_utf8(std::string& out, unsigned long code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// After the backslash. False on an escape JSON does not have or a lone surrogate.
bool read_escape(Cursor& in, std::string& out) {
  char c = in.peek();
  if (in.at_end()) {
    return false;
  }
  in.advance();
  switch (c) {
  case '"':
  case '\\':
  case '/':
    out += c;
    return true;
  case 'b':
    out += '\b';
    return true;
  case 'f':
    out += '\f';
    return true;
  case 'n':
    out += '\n';
    return true;
  case 'r':
    out += '\r';
    return true;
  case 't':
    out += '\t';
    return true;
  case 'u':
    break;
  default:
    return false;
  }
  long code_point = read_hex4(in);
  if (code_point < 0 || (code_point >= 0xDC00 && code_point <= 0xDFFF)) {
    return false;
  }
  if (code_point >= 0xD800 && code_point <= 0xDBFF) {
    if (!in.take("\\u")) {
      return false;
    }
    long low = read_hex4(in);
    if (low < 0xDC00 || low > 0xDFFF) {
      return false;
    }
    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(out, static_cast<unsigned long>(code_point));
  return true;
}

bool in_range(unsigned char byte, unsigned char low, unsigned char high) {
  return byte >= low && byte <= high;
}

// How many bytes the UTF-8 sequence at the cursor has (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF); 0 if it is not one.
std::size_t utf8_length(const Cursor& in) {
  unsigned char lead = in.byte_at(0);
  unsigned char second = in.byte_at(1);
  auto continuation = [&in](std::size_t offset) {
    return in_range(in.byte_at(offset), 0x80, 0xBF);
  };
  if (in_range(lead, 0xC2, 0xDF)) {
    return continuation(1) ? 2 : 0;
  }
  bool second_ok = false;
  std::size_t length = 3;
  if (lead == 0xE0) {
    second_ok = in_range(second, 0xA0, 0xBF);
  } else if (in_range(lead, 0xE1, 0xEC) || in_range(lead, 0xEE, 0xEF)) {
    second_ok = continuation(1);
  } else if (lead == 0xED) {
    second_ok = in_range(second, 0x80, 0x9F);
  } else if (lead == 0xF0) {
    second_ok = in_range(second, 0x90, 0xBF);
    length = 4;
  } else if (in_range(lead, 0xF1, 0xF3)) {
    second_ok = continuation(1);
    length = 4;
  } else if (lead == 0xF4) {
    second_ok = in_range(second, 0x80, 0x8F);
    length = 4;
  }
  if (!second_ok || !continuation(2) || (length == 4 && !continuation(3))) {
    return 0;
  }
  return length;
}

} // namespace

bool read_string(Cursor& in, std::string& out) {
  for (;;) {
    // A run of plain bytes at once.
    std::string_view rest = in.rest();
    std::size_t plain = 0;
    while (plain < rest.size()) {
      auto byte = static_cast<unsigned char>(rest[plain]);
      if (byte < 0x20 || byte >= 0x80 || byte == '"' || byte == '\\') {
        break;
      }
      ++plain;
    }
    out.append(rest.data(), plain);
    in.advance(plain);
    if (in.at_end()) {
      return false;
    }
    unsigned char byte = in.byte_at(0);
    if (byte == '"') {
      in.advance();
      return true;
    }
    if (byte == '\\') {
      in.advance();
      if (!read_escape(in, out)) {
        return false;
      }
      continue;
    }
    if (byte < 0x20) {
      return false;
    }
    std::size_t length = utf8_length(in);
    if (length == 0) {
      return false;
    }
    out.append(in.rest().data(), length);
    in.advance(length);
  }
}

Number read_number(Cursor& in) {
  std::string_view rest = in.rest();
  std::size_t end = 0;
  auto digits = [&rest, &end] {
    std::size_t start = end;
    while (end < rest.size() && rest[end] >= '0' && rest[end] <= '9') {
      ++end;
    }
    return end - start;
  };
  bool negative = end < rest.size() && rest[end] == '-';
  if (negative) {
    ++end;
  }
  if (end < rest.size() && rest[end] == '0') {
    ++end;
  } else if (end >= rest.size() || rest[end] < '1' || rest[end] > '9' || digits() == 0) {
    return {};
  }
  bool integral = true;
  if (end < rest.size() && rest[end] == '.') {
    ++end;
    integral = false;
    if (digits() == 0) {
      return {};
    }
  }
  if (end < rest.size() && (rest[end] == 'e' || rest[end] == 'E')) {
    ++end;
    integral = false;
    if (end < rest.size() && (rest[end] == '+' || rest[end] == '-')) {
      ++end;
    }
    if (digits() == 0) {
      return {};
    }
  }
  std::string_view token = rest.substr(0, end);
  in.advance(end);
  Number number;
  if (integral) {
    // As nlohmann: an integer that does not fit its type is read as a double instead.
    const char* first = token.data();
    const char* last = token.data() + token.size();
    if (negative) {
      auto [ptr, error] = std::from_chars(first, last, number.integer);
      if (error == std::errc() && ptr == last) {
        number.kind = NumberKind::integer;
        return number;
      }
    } else {
      auto [ptr, error] = std::from_chars(first, last, number.unsigned_integer);
      if (error == std::errc() && ptr == last) {
        number.kind = NumberKind::unsigned_integer;
        return number;
      }
    }
  }
  // strtod in the "C" locale, as nlohmann reads doubles (it swaps in the locale's decimal
  // point; ours is always '.'): the same rounding, and an underflow read as 0 as it does.
  static locale_t c_locale = ::newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  std::string copy(token);
  double value = c_locale != static_cast<locale_t>(nullptr)
                     ? ::strtod_l(copy.c_str(), nullptr, c_locale)
                     : std::strtod(copy.c_str(), nullptr);
  if (!std::isfinite(value)) {
    return {}; // nlohmann refuses a number that overflows a double
  }
  number.kind = NumberKind::floating;
  number.floating = value;
  return number;
}

} // namespace chaperone::spool::json_scan_detail
