// chaperone/cli/watch_events.cpp: see watch_events.hpp.
#include "chaperone/cli/watch_events.hpp"

namespace chaperone {

namespace {

std::string base64(std::string_view bytes) {
  static const char* const k_alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16)
                 | (static_cast<unsigned char>(bytes[i + 1]) << 8)
                 | static_cast<unsigned char>(bytes[i + 2]);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) {
      v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    }
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

} // namespace

std::string state_event_line(const std::string& run_id, const nlohmann::json& state, bool final) {
  nlohmann::json line = {
      {"event", final ? "final" : "state"}, {"run_id", run_id}, {"state", state}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string output_event_line(const std::string& run_id,
                              const char* stream,
                              std::uint64_t offset,
                              std::string_view bytes) {
  nlohmann::json line = {
      {"event", "output"}, {"run_id", run_id}, {"stream", stream}, {"offset", offset}};
  line["data"] = std::string(bytes);
  try {
    return line.dump(); // strict: throws on invalid UTF-8
  } catch (const nlohmann::json::exception&) {
    line.erase("data");
    line["data_b64"] = base64(bytes);
    return line.dump();
  }
}

} // namespace chaperone
