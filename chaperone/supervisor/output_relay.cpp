// chaperone/output_relay.cpp: pipe -> (MarkerFilter) -> (limit) -> spool file.
#include "chaperone/supervisor/output_relay.hpp"

#include "spool/error.hpp"
#include "spool/io.hpp"

#include <unistd.h>

#include <cerrno>

namespace chaperone {

OutputRelay::OutputRelay(uv_loop_t* loop,
                         spool::Fd pipe,
                         int file_fd,
                         const std::string& nonce,
                         cmdbuild::BeforeFirstMarker before_first,
                         std::uint64_t limit,
                         OutputRelayCallbacks callbacks)
    : m_pipe(std::move(pipe)), m_file_fd(file_fd), m_limit(limit),
      m_callbacks(std::move(callbacks)) {
  if (!nonce.empty()) {
    m_filter.emplace(nonce, before_first);
  }
  if (int rc = uv_poll_init(loop, &m_poll, m_pipe.get()); rc != 0) {
    spool::throw_error_code(-rc, "uv_poll_init output pipe");
  }
  m_poll.data = this;
  m_poll_open = true;
  if (int rc = uv_poll_start(&m_poll, UV_READABLE | UV_DISCONNECT, on_readable); rc != 0) {
    spool::throw_error_code(-rc, "uv_poll_start output pipe");
  }
}

OutputRelay::~OutputRelay() = default;

void OutputRelay::close_handle() {
  if (m_poll_open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&m_poll))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&m_poll), nullptr);
  }
}

void OutputRelay::deliver(std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  std::uint64_t room = m_limit - m_written;
  std::string_view kept = bytes.size() > room ? bytes.substr(0, room) : bytes;
  if (kept.size() < bytes.size()) {
    if (m_dropped == 0 && m_callbacks.on_limit) {
      m_callbacks.on_limit();
    }
    m_dropped += bytes.size() - kept.size();
  }
  if (kept.empty()) {
    return;
  }
  spool::write_all(m_file_fd, kept, "spool output");
  m_written += kept.size();
  // Remember the last complete line for the error message of a failed ssh.
  m_line_buffer.append(kept);
  size_t end = m_line_buffer.rfind('\n');
  if (end != std::string::npos) {
    size_t start = end == 0 ? std::string::npos : m_line_buffer.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = m_line_buffer.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      m_last_line = line.substr(0, 300);
    }
    m_line_buffer.erase(0, end + 1);
  }
  if (m_line_buffer.size() > 4096) {
    m_line_buffer.erase(0, m_line_buffer.size() - 4096);
  }
}

void OutputRelay::read_available() {
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(m_pipe.get(), buffer, sizeof buffer);
    if (n > 0) {
      std::string_view chunk(buffer, static_cast<size_t>(n));
      if (m_filter) {
        deliver(m_filter->feed(chunk));
      } else {
        deliver(chunk);
      }
      if (m_callbacks.on_progress) {
        m_callbacks.on_progress();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    if (n < 0) {
      spool::throw_errno("read output pipe");
    }
    // EOF: every writer (the program, ssh, anything holding the pipe) is gone.
    if (m_filter) {
      deliver(m_filter->finish());
    }
    uv_poll_stop(&m_poll);
    m_pipe.reset();
    if (m_callbacks.on_eof) {
      m_callbacks.on_eof();
    }
    return;
  }
}

void OutputRelay::on_readable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<OutputRelay*>(handle->data);
  try {
    if (status < 0) {
      spool::throw_error_code(-status, "poll output pipe");
    }
    self->read_available();
  } catch (const std::exception&) {
    if (self->m_callbacks.on_error) {
      self->m_callbacks.on_error(std::current_exception());
    }
  }
}

} // namespace chaperone
