// tests/support/lock_holder.cpp: see lock_holder.hpp.
#include "tests/support/lock_holder.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace chaperone::test {

LockHolder::LockHolder(const std::filesystem::path& path) {
  int ready[2];
  int release[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(release, O_CLOEXEC) == 0);
  const char* file = path.c_str(); // built before the fork: the child only makes syscalls
  m_pid = ::fork();
  REQUIRE(m_pid >= 0);
  if (m_pid == 0) {
    int fd = ::open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    char ok = fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) {
      ::_exit(1);
    }
    char command = 0;
    while (::read(release[0], &command, 1) < 0 && errno == EINTR) {
    }
    if (command == 'u') {
      (void)::flock(fd, LOCK_UN);
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(ready[1]);
  ::close(release[0]);
  m_release = release[1];
  char ok = 0;
  ssize_t n;
  do {
    n = ::read(ready[0], &ok, 1);
  } while (n < 0 && errno == EINTR);
  ::close(ready[0]);
  REQUIRE(n == 1);
  REQUIRE(ok == 'y');
}

LockHolder::~LockHolder() {
  ::close(m_release);
  kill();
  reap();
}

void LockHolder::let_go() {
  const char command = 'u';
  REQUIRE(::write(m_release, &command, 1) == 1);
}

void LockHolder::kill() {
  if (m_pid > 0) {
    ::kill(m_pid, SIGKILL);
  }
}

void LockHolder::reap() {
  if (m_pid > 0) {
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_pid = -1;
  }
}

} // namespace chaperone::test
