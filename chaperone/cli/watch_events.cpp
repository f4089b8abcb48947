// chaperone/cli/watch_events.cpp: see watch_events.hpp. The shared encoder writes the event;
// the run's id is added as one more member, as `watch` carries many runs on one stream.
#include "chaperone/cli/watch_events.hpp"

#include "spool/event.hpp"

namespace chaperone {

namespace {

std::string with_run_id(const std::string& encoded, const std::string& run_id) {
  nlohmann::json line = nlohmann::json::parse(encoded);
  line["run_id"] = run_id;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

std::string state_event_line(const std::string& run_id, const nlohmann::json& state, bool final) {
  spool::Event event;
  event.kind = final ? spool::EventKind::final : spool::EventKind::state;
  event.state = state;
  return with_run_id(spool::encode_event(event), run_id);
}

std::string output_event_line(const std::string& run_id,
                              const char* stream,
                              std::uint64_t offset,
                              std::string_view bytes) {
  spool::Event event;
  event.kind = spool::EventKind::output;
  event.stream = std::string_view(stream) == "stdout" ? spool::Stream::out : spool::Stream::err;
  event.offset = offset;
  event.data = std::string(bytes);
  return with_run_id(spool::encode_event(event), run_id);
}

} // namespace chaperone
