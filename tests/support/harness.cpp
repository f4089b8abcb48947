// tests/support/harness.cpp: spawning the front end with pipes and a deadline. The one
// translation unit that includes Boost.Process (heavy to compile, PLATFORM.md).
#include "tests/support/harness.hpp"

#include <boost/process.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>

namespace bp = boost::process;

namespace chaperone::test {

namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (PLATFORM.md); the raw syscall avoids it.
int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

std::string join(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& arg : args) {
    text += (text.empty() ? "" : " ") + arg;
  }
  return text;
}

} // namespace

const char* chaperone_path() {
  return CHAPERONE_BIN;
}

std::vector<std::string> RunResult::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

class ChaperoneProcess::Impl {
public:
  Impl(const TempSpool& spool, std::vector<std::string> args, RunOptions options)
      : m_options(std::move(options)), m_description("chaperone " + join(args)) {
    m_start = Clock::now();
    m_deadline = m_start + m_options.deadline;
    // The child's environment goes through `env -i K=V ...`: Boost 1.74's environment
    // lookup (basic_environment_impl::find) reads past the end of shorter entries, which
    // AddressSanitizer reports as a heap-buffer-overflow.
    std::map<std::string, std::string> vars;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string text = *entry;
      std::size_t eq = text.find('=');
      if (eq != std::string::npos && eq > 0) {
        vars[text.substr(0, eq)] = text.substr(eq + 1);
      }
    }
    vars["CHAPERONE_SPOOL"] = m_options.spool_value.value_or(spool.root().string());
    for (const std::string& entry : m_options.env) {
      std::size_t eq = entry.find('=');
      vars[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    std::vector<std::string> argv{"/usr/bin/env", "-i"};
    for (const auto& [name, value] : vars) {
      argv.push_back(name + "=" + value);
    }
    argv.insert(argv.end(), m_options.wrapper.begin(), m_options.wrapper.end());
    argv.emplace_back(chaperone_path());
    argv.insert(argv.end(), args.begin(), args.end());
    boost::filesystem::path exe = argv.front();
    argv.erase(argv.begin());
    // Close-on-exec pipes: a front end spawned for one test never holds another's pipe (its
    // copy is dup2'ed onto 1 and 2, which clears the flag there only).
    int out_fds[2];
    int err_fds[2];
    if (::pipe2(out_fds, O_CLOEXEC) != 0 || ::pipe2(err_fds, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    bp::pipe out_pipe(out_fds[0], out_fds[1]);
    bp::pipe err_pipe(err_fds[0], err_fds[1]);
    m_child = bp::child(bp::exe = exe,
                        bp::args = argv,
                        bp::std_in<m_options.stdin_path, bp::std_out> out_pipe,
                        bp::std_err > err_pipe);
    // Keep the read ends; the pipes' destructors close the write ends, so EOF comes when
    // the front end (and anything it passed them on to) has gone.
    m_out_fd = out_pipe.native_source();
    m_err_fd = err_pipe.native_source();
    out_pipe.assign_source(-1);
    err_pipe.assign_source(-1);
    m_pidfd = open_pidfd(m_child.id());
    if (m_pidfd < 0) {
      throw std::runtime_error(std::string("pidfd_open: ") + std::strerror(errno));
    }
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;

  ~Impl() {
    if (!m_reaped) {
      ::kill(m_child.id(), SIGKILL);
      std::error_code ignored;
      m_child.wait(ignored);
    }
    for (int fd : {m_out_fd, m_err_fd, m_pidfd}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }

  // One poll round: reads what is there, notes EOFs and the exit. Returns false once
  // nothing more can happen (both pipes at EOF and the process reaped) or the deadline passed.
  bool step(Clock::time_point until) {
    if (m_out_fd < 0 && m_err_fd < 0 && m_reaped) {
      return false;
    }
    pollfd fds[3] = {
        {m_out_fd, POLLIN, 0}, {m_err_fd, POLLIN, 0}, {m_reaped ? -1 : m_pidfd, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    int n = ::poll(fds, 3, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        read_some(i == 0 ? m_out_fd : m_err_fd, i == 0);
      }
    }
    if (!m_reaped && n > 0 && (fds[2].revents & POLLIN) != 0) {
      m_child.wait();
      m_status = m_child.native_exit_code();
      m_reaped = true;
    }
    return true;
  }

  void read_some(int& fd, bool is_out) {
    char buffer[1 << 16];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      return;
    }
    if (n <= 0) {
      ::close(fd);
      fd = -1;
      return;
    }
    std::string_view chunk(buffer, static_cast<std::size_t>(n));
    if (is_out) {
      m_out_bytes += chunk.size();
      if (m_options.on_stdout) {
        m_options.on_stdout(chunk);
      } else {
        m_out.append(chunk);
      }
    } else {
      m_err.append(chunk);
    }
  }

  bool read_until(Clock::time_point deadline,
                  const std::string& what,
                  const std::function<bool()>& pred) {
    Clock::time_point until = std::min(deadline, m_deadline);
    while (!pred()) {
      if (!step(until)) {
        FAIL_CHECK("while waiting for " << what << ": " << m_description
                                        << (m_reaped ? " exited first" : " timed out")
                                        << "\nstdout so far: " << m_out.substr(0, 2000)
                                        << "\nstderr so far: " << m_err.substr(0, 2000));
        return false;
      }
    }
    return true;
  }

  RunResult finish() {
    while (step(m_deadline)) {
    }
    RunResult result;
    if (!m_reaped) {
      result.deadline_missed = true;
      ::kill(m_child.id(), SIGKILL);
      m_child.wait();
      m_status = m_child.native_exit_code();
      m_reaped = true;
      FAIL_CHECK(m_description << ": no exit within " << m_options.deadline.count()
                               << " ms; killed it\nstderr: " << m_err);
    } else if (m_out_fd >= 0 || m_err_fd >= 0) {
      result.deadline_missed = true;
      FAIL_CHECK(m_description << ": exited, but its stdout/stderr stayed open past the deadline"
                                  " (something inherited them)");
    }
    if (WIFEXITED(m_status)) {
      result.exit_code = WEXITSTATUS(m_status);
    } else if (WIFSIGNALED(m_status)) {
      result.signal = WTERMSIG(m_status);
      result.exit_code = 128 + WTERMSIG(m_status);
    }
    result.out = m_out;
    result.err = m_err;
    result.out_bytes = m_out_bytes;
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_start);
    return result;
  }

  RunOptions m_options;
  std::string m_description;
  Clock::time_point m_start;
  Clock::time_point m_deadline;
  bp::child m_child;
  int m_out_fd = -1;
  int m_err_fd = -1;
  int m_pidfd = -1;
  bool m_reaped = false;
  int m_status = 0;
  std::string m_out;
  std::string m_err;
  std::uint64_t m_out_bytes = 0;
};

ChaperoneProcess::ChaperoneProcess(const TempSpool& spool,
                                   std::vector<std::string> args,
                                   RunOptions options)
    : m_impl(std::make_unique<Impl>(spool, std::move(args), std::move(options))) {}

ChaperoneProcess::~ChaperoneProcess() = default;

pid_t ChaperoneProcess::pid() const {
  return m_impl->m_child.id();
}

const std::string& ChaperoneProcess::out() const {
  return m_impl->m_out;
}

const std::string& ChaperoneProcess::err() const {
  return m_impl->m_err;
}

std::uint64_t ChaperoneProcess::out_bytes() const {
  return m_impl->m_out_bytes;
}

bool ChaperoneProcess::read_until(Clock::time_point deadline,
                                  const std::string& what,
                                  const std::function<bool()>& pred) {
  return m_impl->read_until(deadline, what, pred);
}

void ChaperoneProcess::send_signal(int signum) {
  if (!m_impl->m_reaped) {
    ::kill(m_impl->m_child.id(), signum);
  }
}

RunResult ChaperoneProcess::finish() {
  return m_impl->finish();
}

RunResult run_chaperone(const TempSpool& spool, std::vector<std::string> args, RunOptions options) {
  ChaperoneProcess process(spool, std::move(args), std::move(options));
  return process.finish();
}

} // namespace chaperone::test
