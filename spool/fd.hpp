// spool/fd.hpp: move-only owner of a file descriptor.
#pragma once

#include <unistd.h>

#include <utility>

namespace chaperone::spool {

// Owns one fd and closes it on destruction. A negative value means "none".
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  // Gives up ownership without closing.
  int release() { return std::exchange(m_fd, -1); }
  // Closes the current fd (errors ignored: nothing useful can be done after close fails,
  // and retrying close on Linux can close an fd another thread just opened).
  void reset(int fd = -1) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = fd;
  }

private:
  int m_fd = -1;
};

} // namespace chaperone::spool
