// tests/support/child.cpp: a child with pipes and a deadline.
#include "tests/support/child.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace chaperone::test {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  FAIL(what << ": " << std::strerror(errno));
  std::abort(); // FAIL throws; this only tells the compiler
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

std::vector<char*> c_argv(const Argv& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

} // namespace

int Outcome::exit_code() const {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
int Outcome::term_signal() const {
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

Child::Child(const Argv& argv, std::string input, cmdbuild::MarkerFilter* filter)
    : m_input(std::move(input)), m_filter(filter) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    fail_errno("pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  std::vector<char*> args = c_argv(argv);
  int rc = ::posix_spawnp(&m_pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  m_in = in[1];
  m_out = out[0];
  m_err = err[0];
  if (rc != 0) {
    errno = rc;
    fail_errno("posix_spawnp " + argv[0]);
  }
  ::fcntl(m_in, F_SETFL, O_NONBLOCK);
  if (m_input.empty()) {
    close_fd(m_in);
  }
}

Child::~Child() {
  close_fd(m_in);
  close_fd(m_out);
  close_fd(m_err);
  if (m_pid > 0) {
    ::kill(-m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
  }
}

bool Child::pump(Clock::time_point deadline) {
  if (m_out < 0 && m_err < 0) {
    return false;
  }
  pollfd fds[3];
  nfds_t n = 0;
  int* owners[3];
  auto add = [&](int& fd, short events) {
    if (fd >= 0) {
      fds[n] = pollfd{fd, events, 0};
      owners[n++] = &fd;
    }
  };
  add(m_out, POLLIN);
  add(m_err, POLLIN);
  add(m_in, POLLOUT);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    FAIL("child " << m_pid
                  << " still running at the deadline; stderr so far: " << show(m_outcome.err));
  }
  int ready = ::poll(fds, n, static_cast<int>(left.count()));
  if (ready < 0 && errno != EINTR) {
    fail_errno("poll");
  }
  char buf[65536];
  for (nfds_t i = 0; i < n && ready > 0; ++i) {
    if (fds[i].revents == 0) {
      continue;
    }
    int& fd = *owners[i];
    if (&fd == &m_in) {
      ssize_t w = ::write(fd, m_input.data() + m_written, m_input.size() - m_written);
      if (w > 0) {
        m_written += static_cast<std::size_t>(w);
      }
      // EPIPE: the child does not read its input.
      bool broken = w < 0 && errno != EAGAIN && errno != EINTR;
      if (broken || m_written == m_input.size()) {
        close_fd(m_in);
      }
      continue;
    }
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      close_fd(fd);
      if (&fd == &m_err && m_filter != nullptr) {
        m_filtered += m_filter->finish();
      }
      continue;
    }
    std::string_view chunk(buf, static_cast<std::size_t>(r));
    if (&fd == &m_out) {
      m_outcome.out.append(chunk);
    } else {
      m_outcome.err.append(chunk);
      if (m_filter != nullptr) {
        m_filtered += m_filter->feed(chunk);
      }
    }
  }
  return m_out >= 0 || m_err >= 0;
}

Outcome Child::finish(Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (pump(deadline)) {
  }
  close_fd(m_in);
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fail_errno("waitpid");
    }
  }
  m_pid = -1;
  m_outcome.status = status;
  return m_outcome;
}

Outcome run(const Argv& argv, const std::string& input, Clock::duration timeout) {
  Child child(argv, input);
  return child.finish(timeout);
}

std::string show(const std::string& bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

} // namespace chaperone::test
