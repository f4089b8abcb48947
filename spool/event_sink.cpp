// spool/event_sink.cpp: output events cut at UTF-8 character boundaries.
#include "spool/event_sink.hpp"

#include "spool/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace chaperone::spool {

namespace {

int index_of(Stream stream) {
  return stream == Stream::out ? 0 : 1;
}

void pread_exact(int fd, char* buffer, std::size_t length, std::uint64_t offset) {
  while (length > 0) {
    ssize_t n = ::pread(fd, buffer, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("pread spool stream");
    }
    if (n == 0) {
      throw std::system_error(std::make_error_code(std::errc::io_error),
                              "spool stream is shorter than recorded (truncated?)");
    }
    buffer += n;
    length -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

} // namespace

EventSink::EventSink(Emit emit,
                     std::uint64_t stdout_offset,
                     std::uint64_t stderr_offset,
                     std::size_t max_chunk)
    : m_emit(std::move(emit)), m_max_chunk(max_chunk < 4 ? 4 : max_chunk) {
  m_held[0].offset = stdout_offset;
  m_held[1].offset = stderr_offset;
}

void EventSink::copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) {
  Held& held = m_held[index_of(stream)];
  if (offset != held.offset + held.bytes.size()) {
    throw std::logic_error("EventSink: bytes delivered out of order");
  }
  while (length > 0) {
    std::size_t n = length > m_max_chunk ? m_max_chunk : static_cast<std::size_t>(length);
    std::size_t old_size = held.bytes.size();
    held.bytes.resize(old_size + n);
    pread_exact(source_fd, held.bytes.data() + old_size, n, offset);
    offset += n;
    length -= n;
    emit_chunks(stream, false);
  }
}

void EventSink::flush() {
  emit_chunks(Stream::out, true);
  emit_chunks(Stream::err, true);
}

void EventSink::emit_chunks(Stream stream, bool final) {
  Held& held = m_held[index_of(stream)];
  std::string_view rest(held.bytes);
  std::size_t keep = final ? 0 : incomplete_utf8_tail(rest);
  std::size_t ready = rest.size() - keep;
  std::size_t done = 0;
  while (done < ready) {
    std::size_t n = ready - done > m_max_chunk ? m_max_chunk : ready - done;
    if (done + n < ready) {
      // Not the last chunk: do not end it inside a character the next chunk completes.
      std::size_t cut = incomplete_utf8_tail(rest.substr(done, n));
      if (cut < n) {
        n -= cut;
      }
    }
    Event event;
    event.kind = EventKind::output;
    event.stream = stream;
    event.offset = held.offset + done;
    event.data.assign(rest.substr(done, n));
    m_emit(event);
    done += n;
  }
  held.offset += done;
  held.bytes.erase(0, done);
}

} // namespace chaperone::spool
