// spool/event_sink.hpp: turns a Follower's bytes into output events of spool/event.hpp.
#pragma once

#include "spool/event.hpp"
#include "spool/output_sink.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace chaperone::spool {

// Cuts each stream into output events of at most `max_chunk` bytes. A cut never splits a
// UTF-8 character: a chunk that ends in the first bytes of a character is cut before them,
// and bytes at the current end of a stream that a later write could complete into a
// character are held back until more bytes come or flush() is called (at the end of a
// run). Offsets are per stream and exact: resuming at offset + data.size() of the last
// event seen gives exactly the rest.
class EventSink final : public OutputSink {
public:
  using Emit = std::function<void(const Event&)>;
  static constexpr std::size_t k_default_chunk = std::size_t{64} * 1024;

  EventSink(Emit emit,
            std::uint64_t stdout_offset,
            std::uint64_t stderr_offset,
            std::size_t max_chunk = k_default_chunk);

  void copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) override;

  // Emits whatever is held back (as data_b64 if it is not valid UTF-8 on its own).
  void flush();

private:
  struct Held {
    std::uint64_t offset = 0; // offset of held[0] in the stream
    std::string bytes;
  };
  void emit_chunks(Stream stream, bool final);

  Emit m_emit;
  std::size_t m_max_chunk;
  Held m_held[2];
};

} // namespace chaperone::spool
