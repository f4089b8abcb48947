// chaperone/stderr_relay.hpp: carries a remote run's stderr from a pipe into the spool file,
// stripping and parsing the far side's status markers on the way.
#pragma once

#include "cmdbuild/marker.hpp"
#include "spool/fd.hpp"

#include <uv.h>

#include <functional>
#include <string>

namespace chaperone {

class StderrRelay {
public:
  // Reads `pipe` (non-blocking read end) on `loop`, writes the program's bytes to
  // `stderr_file_fd` (the spool file, O_APPEND). `on_progress` runs after each chunk (to
  // notice new markers), `on_eof` once the far side closed the pipe and every byte was
  // written, `on_error` with the message if reading or writing failed.
  StderrRelay(uv_loop_t* loop,
              spool::Fd pipe,
              int stderr_file_fd,
              const std::string& nonce,
              std::function<void()> on_progress,
              std::function<void()> on_eof,
              std::function<void(const std::string&)> on_error);
  StderrRelay(const StderrRelay&) = delete;
  StderrRelay& operator=(const StderrRelay&) = delete;
  StderrRelay(StderrRelay&&) = delete;
  StderrRelay& operator=(StderrRelay&&) = delete;
  ~StderrRelay();

  // Closes the poll handle; the loop must run once more before this object is destroyed.
  void close_handle();

  const cmdbuild::MarkerFilter& markers() const { return m_filter; }
  bool open() const { return m_pipe.valid(); }
  // The last complete non-empty line the program side wrote before the program started
  // (ssh's own complaints: "Connection refused", "Permission denied (publickey)."), or after.
  const std::string& last_line() const { return m_last_line; }

private:
  static void on_readable(uv_poll_t* handle, int status, int events);
  void read_available();
  void deliver(const std::string& bytes);

  uv_poll_t m_poll{};
  bool m_poll_open = false;
  spool::Fd m_pipe;
  int m_file_fd;
  cmdbuild::MarkerFilter m_filter;
  std::function<void()> m_on_progress;
  std::function<void()> m_on_eof;
  std::function<void(const std::string&)> m_on_error;
  std::string m_line_buffer;
  std::string m_last_line;
};

} // namespace chaperone
