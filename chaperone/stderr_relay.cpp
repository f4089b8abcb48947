// chaperone/stderr_relay.cpp: pipe -> MarkerFilter -> spool stderr file.
#include "chaperone/stderr_relay.hpp"

#include "spool/error.hpp"
#include "spool/io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chaperone {

StderrRelay::StderrRelay(uv_loop_t* loop,
                         spool::Fd pipe,
                         int stderr_file_fd,
                         const std::string& nonce,
                         std::function<void()> on_progress,
                         std::function<void()> on_eof,
                         std::function<void(const std::string&)> on_error)
    : m_pipe(std::move(pipe)), m_file_fd(stderr_file_fd), m_filter(nonce),
      m_on_progress(std::move(on_progress)), m_on_eof(std::move(on_eof)),
      m_on_error(std::move(on_error)) {
  if (int rc = uv_poll_init(loop, &m_poll, m_pipe.get()); rc != 0) {
    spool::throw_error_code(-rc, "uv_poll_init stderr pipe");
  }
  m_poll.data = this;
  m_poll_open = true;
  if (int rc = uv_poll_start(&m_poll, UV_READABLE | UV_DISCONNECT, on_readable); rc != 0) {
    spool::throw_error_code(-rc, "uv_poll_start stderr pipe");
  }
}

StderrRelay::~StderrRelay() = default;

void StderrRelay::close_handle() {
  if (m_poll_open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&m_poll))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&m_poll), nullptr);
  }
}

void StderrRelay::deliver(const std::string& bytes) {
  if (bytes.empty()) {
    return;
  }
  spool::write_all(m_file_fd, bytes, "spool stderr");
  // Remember the last complete line for the error message of a failed ssh.
  m_line_buffer += bytes;
  size_t end = m_line_buffer.rfind('\n');
  if (end != std::string::npos) {
    size_t start = m_line_buffer.rfind('\n', end == 0 ? 0 : end - 1);
    start = (start == std::string::npos || start == end) ? 0 : start + 1;
    std::string line = m_line_buffer.substr(start, end - start);
    if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos) {
      m_last_line = line.substr(0, 300);
    }
    m_line_buffer.erase(0, end + 1);
  }
  if (m_line_buffer.size() > 4096) {
    m_line_buffer.erase(0, m_line_buffer.size() - 4096);
  }
}

void StderrRelay::read_available() {
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(m_pipe.get(), buffer, sizeof buffer);
    if (n > 0) {
      deliver(m_filter.feed(std::string_view(buffer, static_cast<size_t>(n))));
      m_on_progress();
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    if (n < 0) {
      spool::throw_errno("read stderr pipe");
    }
    // EOF: every writer (ssh and anything holding its stderr) is gone.
    deliver(m_filter.finish());
    uv_poll_stop(&m_poll);
    m_pipe.reset();
    m_on_eof();
    return;
  }
}

void StderrRelay::on_readable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<StderrRelay*>(handle->data);
  try {
    if (status < 0) {
      spool::throw_error_code(-status, "poll stderr pipe");
    }
    self->read_available();
  } catch (const std::exception& e) {
    self->m_on_error(e.what());
  }
}

} // namespace chaperone
