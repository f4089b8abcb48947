// chaperone/supervisor/far_command.cpp: a child with pipes on 0, 1 and 2 driven by poll(2)
// until it exits, so a far side that reads its stdin slowly never deadlocks us.
#include "chaperone/supervisor/far_command.hpp"

#include "chaperone/supervisor/spawn.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"
#include "spool/io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace chaperone {

namespace {

using Clock = std::chrono::steady_clock;

void make_pipe(spool::Fd& read_end, spool::Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    spool::throw_errno("pipe2");
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
}

} // namespace

std::string CommandOutcome::last_err_line() const {
  std::string text = err;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  size_t start = text.rfind('\n');
  return start == std::string::npos ? text : text.substr(start + 1);
}

CommandOutcome run_command(const std::vector<std::string>& argv,
                           const std::vector<std::filesystem::path>& stdin_files,
                           std::chrono::milliseconds timeout) {
  spool::Fd in_read;
  spool::Fd in_write;
  spool::Fd out_read;
  spool::Fd out_write;
  spool::Fd err_read;
  spool::Fd err_write;
  if (!stdin_files.empty()) {
    make_pipe(in_read, in_write);
  }
  make_pipe(out_read, out_write);
  make_pipe(err_read, err_write);
  std::vector<spool::Fd> sources;
  for (const auto& path : stdin_files) {
    sources.push_back(spool::open_or_throw(path, O_RDONLY));
  }

  SpawnRequest request;
  request.argv = argv;
  request.stdin_fd = in_read.valid() ? in_read.get() : -1;
  request.stdout_fd = out_write.get();
  request.stderr_fd = err_write.get();
  request.new_process_group = true;
  // A step of a supervisor that was killed must not go on alone.
  request.parent_death_signal = SIGTERM;
  pid_t pid = spawn_process(request);
  in_read.reset();
  out_write.reset();
  err_write.reset();
  for (spool::Fd* fd : {&in_write, &out_read, &err_read}) {
    if (fd->valid()) {
      (void)::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
    }
  }

  CommandOutcome outcome;
  Clock::time_point deadline = Clock::now() + timeout;
  size_t source = 0;
  std::string chunk;
  size_t chunk_at = 0;
  char buffer[65536];
  while (out_read.valid() || err_read.valid()) {
    if (in_write.valid() && chunk_at == chunk.size()) {
      // Refill from the current source file; close stdin after the last one.
      ssize_t n = 0;
      while (source < sources.size()
             && (n = ::read(sources[source].get(), buffer, sizeof buffer)) == 0) {
        ++source;
      }
      if (n < 0) {
        spool::throw_errno("read shipped file");
      }
      if (source >= sources.size()) {
        in_write.reset();
      } else {
        chunk.assign(buffer, static_cast<size_t>(n));
        chunk_at = 0;
      }
    }
    pollfd fds[3];
    nfds_t count = 0;
    for (spool::Fd* fd : {&out_read, &err_read}) {
      if (fd->valid()) {
        fds[count++] = pollfd{fd->get(), POLLIN, 0};
      }
    }
    if (in_write.valid()) {
      fds[count++] = pollfd{in_write.get(), POLLOUT, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      outcome.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int rc = ::poll(fds, count, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) {
      spool::throw_errno("poll");
    }
    for (nfds_t i = 0; i < count && rc > 0; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      if (in_write.valid() && fds[i].fd == in_write.get()) {
        ssize_t n = ::write(in_write.get(), chunk.data() + chunk_at, chunk.size() - chunk_at);
        if (n > 0) {
          chunk_at += static_cast<size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          in_write.reset(); // the far side stopped reading (EPIPE): its exit code tells why
          chunk_at = chunk.size();
        }
        continue;
      }
      spool::Fd& fd = fds[i].fd == out_read.get() ? out_read : err_read;
      std::string& sink = fds[i].fd == out_read.get() ? outcome.out : outcome.err;
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        sink.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        fd.reset();
      }
    }
  }
  in_write.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      spool::throw_errno("waitpid");
    }
  }
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

} // namespace chaperone
