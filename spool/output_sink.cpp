// spool/output_sink.cpp: sendfile / pread based delivery of spool bytes.
#include "spool/output_sink.hpp"

#include "spool/error.hpp"
#include "spool/io.hpp"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>

namespace chaperone::spool {

namespace {

const char* stream_name(Stream stream) {
  return stream == Stream::out ? "stdout" : "stderr";
}

// Reads exactly `length` bytes at `offset` (the spool file only grows, so a short read
// means the file was truncated under us: an error, never silently fewer bytes).
void pread_exact(int fd, char* buffer, size_t length, std::uint64_t offset, Stream stream) {
  while (length > 0) {
    ssize_t n = ::pread(fd, buffer, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno(std::string("pread spool ") + stream_name(stream));
    }
    if (n == 0) {
      throw std::system_error(std::make_error_code(std::errc::io_error),
                              std::string("spool ") + stream_name(stream)
                                  + " is shorter than recorded (truncated?)");
    }
    buffer += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

// Waits until `fd` is writable: a non-blocking stdout inherited from the caller
// returns EAGAIN instead of blocking.
void wait_writable(int fd) {
  pollfd p{fd, POLLOUT, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

// One sendfile(2) of at most `limit` bytes from `offset`, retried on EINTR and, into a full
// non-blocking pipe, once it has room. The bytes sent (0: the source ends at `offset`), or
// nullopt if sendfile cannot serve this pair (EINVAL, ENOSYS: e.g. an O_APPEND target).
std::optional<std::uint64_t>
sendfile_step(int out, int source_fd, std::uint64_t offset, std::uint64_t limit, Stream stream) {
  for (;;) {
    auto position = static_cast<off_t>(offset);
    size_t chunk = limit > (1U << 30) ? (1U << 30) : static_cast<size_t>(limit);
    ssize_t n = ::sendfile(out, source_fd, &position, chunk);
    if (n >= 0) {
      return static_cast<std::uint64_t>(n);
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN) {
      wait_writable(out);
      continue;
    }
    if (errno == EINVAL || errno == ENOSYS) {
      return std::nullopt;
    }
    throw_errno(std::string("sendfile to ") + stream_name(stream));
  }
}

} // namespace

std::uint64_t OutputSink::copy_available(Stream stream,
                                         int source_fd,
                                         std::uint64_t offset,
                                         std::uint64_t limit) {
  struct stat st {};
  if (::fstat(source_fd, &st) != 0) {
    throw_errno(std::string("fstat spool ") + stream_name(stream));
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size <= offset) {
    return 0;
  }
  std::uint64_t length = size - offset < limit ? size - offset : limit;
  copy(stream, source_fd, offset, length);
  return length;
}

std::uint64_t
FdSink::copy_available(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t limit) {
  int index = stream == Stream::out ? 0 : 1;
  int out = m_fds[index];
  if (out < 0 || !m_use_sendfile[index]) {
    return OutputSink::copy_available(stream, source_fd, offset, limit);
  }
  // One sendfile: it stops at the file's end (0: nothing new) and, into a pipe, at the pipe's
  // room, so one call is one bounded step of a follower's loop.
  if (std::optional<std::uint64_t> sent = sendfile_step(out, source_fd, offset, limit, stream)) {
    return *sent;
  }
  m_use_sendfile[index] = false; // e.g. an fd opened with O_APPEND
  return OutputSink::copy_available(stream, source_fd, offset, limit);
}

void FdSink::copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) {
  int index = stream == Stream::out ? 0 : 1;
  int out = m_fds[index];
  if (out < 0) {
    return;
  }
  while (length > 0 && m_use_sendfile[index]) {
    std::optional<std::uint64_t> sent = sendfile_step(out, source_fd, offset, length, stream);
    if (!sent) {
      m_use_sendfile[index] = false; // e.g. an fd opened with O_APPEND
      break;
    }
    if (*sent == 0) {
      throw std::system_error(std::make_error_code(std::errc::io_error),
                              std::string("spool ") + stream_name(stream)
                                  + " is shorter than recorded (truncated?)");
    }
    offset += *sent;
    length -= *sent;
  }
  if (length == 0) {
    return;
  }
  constexpr size_t k_chunk = 1 << 20;
  auto buffer = std::make_unique<char[]>(k_chunk);
  while (length > 0) {
    size_t n = length > k_chunk ? k_chunk : static_cast<size_t>(length);
    pread_exact(source_fd, buffer.get(), n, offset, stream);
    std::string_view rest(buffer.get(), n);
    while (!rest.empty()) {
      ssize_t written = ::write(out, rest.data(), rest.size());
      if (written < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN) {
          wait_writable(out);
          continue;
        }
        throw_errno(std::string("write to ") + stream_name(stream));
      }
      rest.remove_prefix(static_cast<size_t>(written));
    }
    offset += n;
    length -= n;
  }
}

void CallbackSink::copy(Stream stream, int source_fd, std::uint64_t offset, std::uint64_t length) {
  constexpr size_t k_chunk = 1 << 20;
  std::string buffer;
  while (length > 0) {
    size_t n = length > k_chunk ? k_chunk : static_cast<size_t>(length);
    buffer.resize(n);
    pread_exact(source_fd, buffer.data(), n, offset, stream);
    m_callback(stream, buffer);
    offset += n;
    length -= n;
  }
}

} // namespace chaperone::spool
