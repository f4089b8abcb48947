// spool/event.cpp: encoding and decoding of the JSON-lines event vocabulary.
#include "spool/event.hpp"

#include <array>
#include <stdexcept>

namespace chaperone::spool {

namespace {

constexpr const char* k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char* stream_name(Stream stream) {
  return stream == Stream::out ? "stdout" : "stderr";
}

// Length of the UTF-8 sequence a lead byte announces (0: not a lead byte), and the range
// the second byte must fall in (which excludes overlong forms, surrogates and > U+10FFFF).
struct Lead {
  int length;
  unsigned char second_min;
  unsigned char second_max;
};

Lead lead_of(unsigned char byte) {
  if (byte < 0x80) {
    return {1, 0, 0};
  }
  if (byte >= 0xC2 && byte <= 0xDF) {
    return {2, 0x80, 0xBF};
  }
  if (byte == 0xE0) {
    return {3, 0xA0, 0xBF};
  }
  if (byte == 0xED) {
    return {3, 0x80, 0x9F};
  }
  if (byte >= 0xE1 && byte <= 0xEF) {
    return {3, 0x80, 0xBF};
  }
  if (byte == 0xF0) {
    return {4, 0x90, 0xBF};
  }
  if (byte >= 0xF1 && byte <= 0xF3) {
    return {4, 0x80, 0xBF};
  }
  if (byte == 0xF4) {
    return {4, 0x80, 0x8F};
  }
  return {0, 0, 0};
}

// How many bytes of the sequence starting at `at` are well-formed so far (stops at the
// first byte that cannot continue it), and its announced length.
std::size_t valid_run(std::string_view bytes, std::size_t at, int& length) {
  Lead lead = lead_of(static_cast<unsigned char>(bytes[at]));
  length = lead.length;
  if (lead.length <= 1) {
    return static_cast<std::size_t>(lead.length);
  }
  std::size_t good = 1;
  for (int i = 1; i < lead.length && at + good < bytes.size(); ++i) {
    auto byte = static_cast<unsigned char>(bytes[at + good]);
    unsigned char lo = i == 1 ? lead.second_min : 0x80;
    unsigned char hi = i == 1 ? lead.second_max : 0xBF;
    if (byte < lo || byte > hi) {
      break;
    }
    ++good;
  }
  return good;
}

std::uint64_t required_offset(const nlohmann::json& json) {
  auto found = json.find("offset");
  if (found == json.end() || !found->is_number_unsigned()) {
    throw std::runtime_error("event: \"offset\" must be a non-negative integer");
  }
  return found->get<std::uint64_t>();
}

} // namespace

bool is_valid_utf8(std::string_view bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    int length = 0;
    std::size_t good = valid_run(bytes, at, length);
    if (length == 0 || good != static_cast<std::size_t>(length)) {
      return false;
    }
    at += good;
  }
  return true;
}

std::size_t incomplete_utf8_tail(std::string_view bytes) {
  // A sequence is at most 4 bytes: only a lead byte among the last 3 can be unfinished.
  std::size_t first = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (std::size_t at = bytes.size(); at > first; --at) {
    std::size_t start = at - 1;
    auto byte = static_cast<unsigned char>(bytes[start]);
    if (byte >= 0x80 && byte < 0xC0) {
      continue; // a continuation byte: look further back for its lead
    }
    int length = 0;
    std::size_t good = valid_run(bytes, start, length);
    std::size_t present = bytes.size() - start;
    if (length > 1 && good == present && present < static_cast<std::size_t>(length)) {
      return present;
    }
    return 0;
  }
  return 0;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t at = 0;
  while (at + 3 <= bytes.size()) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[at]) << 16U)
                      | (static_cast<unsigned char>(bytes[at + 1]) << 8U)
                      | static_cast<unsigned char>(bytes[at + 2]);
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += k_alphabet[(n >> 6U) & 63U];
    out += k_alphabet[n & 63U];
    at += 3;
  }
  std::size_t rest = bytes.size() - at;
  if (rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(bytes[at]) << 16U;
    if (rest == 2) {
      n |= static_cast<unsigned char>(bytes[at + 1]) << 8U;
    }
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += rest == 2 ? k_alphabet[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::array<int, 256> values{};
  values.fill(-1);
  for (int i = 0; i < 64; ++i) {
    values[static_cast<unsigned char>(k_alphabet[i])] = i;
  }
  if (text.size() % 4 != 0) {
    throw std::runtime_error("event: base64 length is not a multiple of 4");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t at = 0; at < text.size(); at += 4) {
    bool last = at + 4 == text.size();
    int pad = 0;
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      char c = text[at + i];
      if (c == '=' && last && i >= 2 && (i == 3 || text[at + 3] == '=')) {
        ++pad;
        n <<= 6U;
        continue;
      }
      int value = values[static_cast<unsigned char>(c)];
      if (value < 0 || pad > 0) {
        throw std::runtime_error("event: invalid base64");
      }
      n = (n << 6U) | static_cast<std::uint32_t>(value);
    }
    out += static_cast<char>((n >> 16U) & 0xFFU);
    if (pad < 2) {
      out += static_cast<char>((n >> 8U) & 0xFFU);
    }
    if (pad < 1) {
      out += static_cast<char>(n & 0xFFU);
    }
  }
  return out;
}

std::string encode_event(const Event& event) {
  // Ordered: "event" first, as a reader scanning the lines expects.
  nlohmann::ordered_json json;
  switch (event.kind) {
  case EventKind::output:
    json["event"] = "output";
    json["stream"] = stream_name(event.stream);
    json["offset"] = event.offset;
    if (is_valid_utf8(event.data)) {
      json["data"] = event.data;
    } else {
      json["data_b64"] = base64_encode(event.data);
    }
    break;
  case EventKind::state:
  case EventKind::final:
    json["event"] = event.kind == EventKind::state ? "state" : "final";
    json["state"] = event.state;
    break;
  }
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Event decode_event(std::string_view line) {
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
  }
  nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw std::runtime_error("event: not a JSON object");
  }
  auto kind = json.find("event");
  if (kind == json.end() || !kind->is_string()) {
    throw std::runtime_error("event: \"event\" must be a string");
  }
  Event event;
  const std::string& name = kind->get_ref<const std::string&>();
  if (name == "output") {
    event.kind = EventKind::output;
    auto stream = json.find("stream");
    if (stream == json.end() || !stream->is_string()
        || (*stream != "stdout" && *stream != "stderr")) {
      throw std::runtime_error("event: \"stream\" must be \"stdout\" or \"stderr\"");
    }
    event.stream = *stream == "stdout" ? Stream::out : Stream::err;
    event.offset = required_offset(json);
    auto data = json.find("data");
    auto data_b64 = json.find("data_b64");
    if ((data == json.end()) == (data_b64 == json.end())) {
      throw std::runtime_error("event: an output event has exactly one of data and data_b64");
    }
    if (data != json.end()) {
      if (!data->is_string()) {
        throw std::runtime_error("event: \"data\" must be a string");
      }
      event.data = data->get<std::string>();
    } else {
      if (!data_b64->is_string()) {
        throw std::runtime_error("event: \"data_b64\" must be a string");
      }
      event.data = base64_decode(data_b64->get<std::string>());
    }
    return event;
  }
  if (name == "state" || name == "final") {
    event.kind = name == "state" ? EventKind::state : EventKind::final;
    auto state = json.find("state");
    if (state == json.end() || !state->is_object()) {
      throw std::runtime_error("event: \"state\" must be an object");
    }
    event.state = *state;
    return event;
  }
  throw std::runtime_error("event: unknown event \"" + name + "\"");
}

} // namespace chaperone::spool
