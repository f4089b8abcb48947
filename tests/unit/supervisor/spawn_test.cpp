// tests/unit/supervisor/spawn_test.cpp: spawn_process's fork path (the one every local and
// remote program takes: PR_SET_PDEATHSIG, the pid recorded before the exec) on real
// children: what they inherit, when the go-ahead comes, and that exec errors come back.
#include "chaperone/supervisor/spawn.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace chaperone {
namespace {

std::string temp_dir() {
  std::string dir = (std::filesystem::temp_directory_path() / "spawn_test.XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    REQUIRE(errno == EINTR);
  }
  return status;
}

// A line of /proc/self/status ("SigIgn:\t0000000000000000") as the child saw it.
std::string status_field(const std::string& status, const std::string& name) {
  size_t at = status.find(name + ":\t");
  REQUIRE(at != std::string::npos);
  size_t end = status.find('\n', at);
  return status.substr(at + name.size() + 2, end - at - name.size() - 2);
}

void on_usr2(int /*signum*/) {}

struct SignalStateGuard {
  sigset_t mask{};
  struct sigaction usr1 {};
  struct sigaction usr2 {};
  struct sigaction term {};
  struct sigaction pipe {};
  SignalStateGuard() {
    ::sigaction(SIGPIPE, nullptr, &pipe);
    ::sigprocmask(SIG_SETMASK, nullptr, &mask);
    ::sigaction(SIGUSR1, nullptr, &usr1);
    ::sigaction(SIGUSR2, nullptr, &usr2);
    ::sigaction(SIGTERM, nullptr, &term);
  }
  SignalStateGuard(const SignalStateGuard&) = delete;
  SignalStateGuard& operator=(const SignalStateGuard&) = delete;
  ~SignalStateGuard() {
    ::sigaction(SIGUSR1, &usr1, nullptr);
    ::sigaction(SIGUSR2, &usr2, nullptr);
    ::sigaction(SIGTERM, &term, nullptr);
    ::sigaction(SIGPIPE, &pipe, nullptr);
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  }
};

TEST_CASE("the fork path gives the program only its fds, default signals and an empty mask",
          "[spawn]") {
  std::string dir = temp_dir();
  SignalStateGuard guard;
  (void)::signal(SIGUSR1, SIG_IGN);
  (void)::signal(SIGUSR2, on_usr2);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
  // Extra fds on 3..12, all free here: the spawn's own pipes (the go-ahead, the exec error)
  // then land on some of those numbers in the child and must get out of the way. Each target
  // gets its own source, the read end of a pipe, moved above 100.
  std::vector<int> keep_open;
  // Whatever our own caller left on those numbers (ctest does) moves out of the way.
  for (int fd = 3; fd <= 12; ++fd) {
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 300);
    if (moved >= 0) {
      ::close(fd);
      keep_open.push_back(moved);
    }
  }
  SpawnRequest request;
  for (int target = 3; target <= 12; ++target) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    int source = ::fcntl(fds[0], F_DUPFD_CLOEXEC, 100);
    REQUIRE(source >= 100);
    ::close(fds[0]);
    ::close(fds[1]);
    keep_open.push_back(source);
    request.extra_fds.emplace_back(source, target);
  }
  std::string out = dir + "/out";
  int opened = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(opened >= 0);
  int out_fd = ::fcntl(opened, F_DUPFD_CLOEXEC, 200);
  ::close(opened);
  REQUIRE(out_fd >= 200);
  REQUIRE(::fcntl(3, F_GETFD) < 0); // the pipes below will get the low numbers
  // The shell's own fds ($$), and the signal state its child `cat` got through two execs.
  // `ls` runs as a plain command: a pipeline would have the shell hold its pipes' fds while
  // `ls` looks (it did, under load in CI: 13 14 15).
  request.argv = {"/bin/sh", "-c", "ls -v /proc/$$/fd; echo END; cat /proc/self/status"};
  request.stdout_fd = out_fd;
  request.new_process_group = true;
  request.search_path = false;
  request.parent_death_signal = SIGKILL;
  pid_t recorded = 0;
  bool released = false;
  request.before_exec = [&](pid_t pid) { recorded = pid; };
  request.after_release = [&] {
    CHECK(recorded != 0);
    released = true;
  };
  pid_t pid = spawn_process(request);
  CHECK(pid == recorded);
  CHECK(released);
  int status = wait_status(pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string text = slurp(out);
  std::string fds;
  std::istringstream listing(text.substr(0, text.find("END\n")));
  for (std::string fd; std::getline(listing, fd);) {
    fds += fd + " ";
  }
  CHECK(fds == "0 1 2 3 4 5 6 7 8 9 10 11 12 ");
  CHECK(status_field(text, "SigIgn") == "0000000000000000");
  CHECK(status_field(text, "SigBlk") == "0000000000000000");
  for (int fd : keep_open) {
    ::close(fd);
  }
  ::close(out_fd);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a missing program comes back as the exec's errno, after the pid was recorded",
          "[spawn]") {
  SpawnRequest request;
  request.argv = {"/nonexistent/chaperone-spawn-test"};
  request.search_path = false;
  request.parent_death_signal = SIGKILL;
  int recorded = 0;
  request.before_exec = [&](pid_t /*pid*/) { ++recorded; };
  try {
    (void)spawn_process(request);
    FAIL("spawn_process returned for a missing program");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(std::string(e.what()).find("exec /nonexistent/chaperone-spawn-test")
          != std::string::npos);
  }
  CHECK(recorded == 1);
  // The failed child was reaped by spawn_process: none is left to us.
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);
}

TEST_CASE("a signal sent to the recorded pid before the go-ahead ends the child, not a handler "
          "of ours",
          "[spawn]") {
  SignalStateGuard guard;
  // Our own SIGTERM is caught: a child still running our handler would survive it.
  (void)::signal(SIGTERM, on_usr2);
  // As in the supervisor: the go byte may find the child gone (EPIPE, not a signal).
  (void)::signal(SIGPIPE, SIG_IGN);
  SpawnRequest request;
  request.argv = {"/bin/sleep", "30"};
  request.search_path = false;
  request.new_process_group = true;
  request.parent_death_signal = SIGKILL;
  request.before_exec = [](pid_t pid) { REQUIRE(::kill(pid, SIGTERM) == 0); };
  pid_t pid = spawn_process(request);
  int status = wait_status(pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
}

TEST_CASE("an exception from before_exec kills and reaps the child", "[spawn]") {
  SpawnRequest request;
  request.argv = {"/bin/sleep", "30"};
  request.search_path = false;
  request.parent_death_signal = SIGKILL;
  request.before_exec = [](pid_t /*pid*/) { throw std::runtime_error("cannot record"); };
  CHECK_THROWS_WITH(spawn_process(request), "cannot record");
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);
}

} // namespace
} // namespace chaperone
