// spool/output_sink.hpp: where a Follower delivers the bytes it reads from a run.
#pragma once

#include "spool/run_dir.hpp"

#include <cstdint>
#include <functional>
#include <string_view>

namespace chaperone::spool {

class OutputSink {
public:
  OutputSink() = default;
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;
  OutputSink(OutputSink&&) = delete;
  OutputSink& operator=(OutputSink&&) = delete;
  virtual ~OutputSink() = default;

  // Delivers bytes [offset, offset + length) of `stream`, read from `source_fd` (the spool
  // file, opened read-only). Must deliver all of them or throw.
  virtual void copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) = 0;

  // Delivers what `source_fd` holds from `offset` on, at most `limit` bytes, and returns how
  // many: 0 when nothing is there yet. For a follower that does not know where the file ends
  // (a stream still growing): the return says it, no fstat first. This one looks at the size
  // and calls copy(); FdSink learns the end from sendfile's own return.
  virtual std::uint64_t
  copy_available(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t limit);
};

// Writes each stream to an fd with sendfile(2), which copies inside the kernel; falls back
// to pread+write where sendfile refuses the pair. An fd of -1 discards that stream.
// Throws std::system_error (EPIPE when the reader went away) naming the stream.
class FdSink final : public OutputSink {
public:
  FdSink(int stdout_fd, int stderr_fd) : m_fds{stdout_fd, stderr_fd} {}
  void copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) override;
  std::uint64_t
  copy_available(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t limit) override;

private:
  int m_fds[2];
  bool m_use_sendfile[2] = {true, true};
};

// Hands the bytes to a function, in chunks of at most 1 MiB (library users, tests).
class CallbackSink final : public OutputSink {
public:
  using Callback = std::function<void(Stream, std::string_view)>;
  explicit CallbackSink(Callback callback) : m_callback(std::move(callback)) {}
  void copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) override;

private:
  Callback m_callback;
};

} // namespace chaperone::spool
