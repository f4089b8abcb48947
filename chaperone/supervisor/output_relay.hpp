// chaperone/output_relay.hpp: carries one output stream from a pipe into its spool file,
// when the program cannot write the file itself: remote runs (the far side's status markers
// ride on stderr and are stripped here) and runs with --max-output (bytes past the limit are
// dropped here).
#pragma once

#include "cmdbuild/marker.hpp"
#include "spool/fd.hpp"

#include <uv.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace chaperone {

struct OutputRelayCallbacks {
  std::function<void()> on_progress;                // after each chunk (new markers?)
  std::function<void()> on_eof;                     // every writer closed the pipe
  std::function<void(std::exception_ptr)> on_error; // reading or writing failed (errno kept)
  std::function<void()> on_limit;                   // first byte past the limit
};

class OutputRelay {
public:
  // Reads `pipe` (a non-blocking read end) on `loop` and appends to `file_fd`. A non-empty
  // `nonce` filters the stream through a MarkerFilter(nonce, before_first); at most `limit`
  // bytes of program output are written, the rest counted in dropped(). Throws
  // std::system_error if the poll handle cannot be set up.
  OutputRelay(uv_loop_t* loop,
              spool::Fd pipe,
              int file_fd,
              const std::string& nonce,
              cmdbuild::BeforeFirstMarker before_first,
              std::uint64_t limit,
              OutputRelayCallbacks callbacks);
  OutputRelay(const OutputRelay&) = delete;
  OutputRelay& operator=(const OutputRelay&) = delete;
  OutputRelay(OutputRelay&&) = delete;
  OutputRelay& operator=(OutputRelay&&) = delete;
  ~OutputRelay();

  // Closes the poll handle; the loop must run once more before this object is destroyed.
  void close_handle();

  bool open() const { return m_pipe.valid(); }
  // nullptr when the stream carries no markers.
  const cmdbuild::MarkerFilter* markers() const { return m_filter ? &*m_filter : nullptr; }
  std::uint64_t dropped() const { return m_dropped; }
  // The last complete non-empty line written (ssh's own complaint when it fails).
  const std::string& last_line() const { return m_last_line; }

private:
  static void on_readable(uv_poll_t* handle, int status, int events);
  void read_available();
  void deliver(std::string_view bytes);

  uv_poll_t m_poll{};
  bool m_poll_open = false;
  spool::Fd m_pipe;
  int m_file_fd;
  std::optional<cmdbuild::MarkerFilter> m_filter;
  std::uint64_t m_limit;
  std::uint64_t m_written = 0;
  std::uint64_t m_dropped = 0;
  OutputRelayCallbacks m_callbacks;
  std::string m_line_buffer;
  std::string m_last_line;
};

} // namespace chaperone
