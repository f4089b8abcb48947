// tests/unit/chaperone/lock_wait_test.cpp: the front end's wait for a supervisor's let-go,
// blocked in flock(2) against a lock held by a real child process, with its timer signal
// aimed at the waiting thread and the process's SIGALRM left as it was found.
#include "chaperone/cli/lock_wait.hpp"
#include "spool/file_lock.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <thread>

using namespace chaperone;
using namespace std::chrono_literals;
using chaperone::test::TempSpool;

namespace {

// A child process that takes LOCK_EX on `path`, says so on a pipe, and lets go of it (while
// it lives on) when told to through another pipe.
class LockHolder {
public:
  explicit LockHolder(const std::filesystem::path& path) {
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
      (void)::flock(fd, LOCK_UN);
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
      n = ::read(ready[0], &ok, 1); // the child's answer: an event, not a sleep
    } while (n < 0 && errno == EINTR);
    ::close(ready[0]);
    REQUIRE(n == 1);
    REQUIRE(ok == 'y');
  }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  LockHolder(LockHolder&&) = delete;
  LockHolder& operator=(LockHolder&&) = delete;
  ~LockHolder() {
    ::close(m_release);
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      int status = 0;
      while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  // Unlocks; the process stays alive (a supervisor that let go and still exits).
  void let_go() {
    const char command = 'u';
    REQUIRE(::write(m_release, &command, 1) == 1);
  }

private:
  pid_t m_pid = -1;
  int m_release = -1;
};

std::atomic<int> g_caller_alarms{0};
extern "C" void count_caller_alarm(int /*signum*/) {
  g_caller_alarms.fetch_add(1);
}

std::atomic<int> g_usr1{0};
extern "C" void count_usr1(int /*signum*/) {
  g_usr1.fetch_add(1);
}

} // namespace

TEST_CASE("wait_for_lock_free: a free or missing lock is free at once", "[unit][lock_wait]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  CHECK(wait_for_lock_free(path, 0ms)); // missing
  spool::FileLock mine = spool::FileLock::try_exclusive(path);
  REQUIRE(mine.held());
  mine = spool::FileLock(); // made and let go
  CHECK(wait_for_lock_free(path, 0ms));
  CHECK_FALSE(spool::FileLock::is_held_by_someone(path)); // the shared probe was let go
}

TEST_CASE("wait_for_lock_free: wakes when the holder unlocks, while the holder lives on",
          "[unit][lock_wait]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  std::thread releaser([&holder] {
    std::this_thread::sleep_for(50ms);
    holder.let_go();
  });
  auto start = std::chrono::steady_clock::now();
  bool freed = wait_for_lock_free(path, 10s);
  auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  CHECK(freed);
  CHECK(waited >= 50ms);
  CHECK(waited < 5s); // the let-go, not the 10 s limit, ended it
  CHECK_FALSE(spool::FileLock::is_held_by_someone(path));
}

TEST_CASE("wait_for_lock_free: a holder that stays is waited for up to the limit; the "
          "caller's SIGALRM handler and signal mask come back as they were",
          "[unit][lock_wait]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);

  struct sigaction caller {};
  caller.sa_handler = count_caller_alarm;
  sigemptyset(&caller.sa_mask);
  caller.sa_flags = SA_RESTART;
  struct sigaction before {};
  REQUIRE(::sigaction(SIGALRM, &caller, &before) == 0);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGALRM);
  sigset_t mask_before;
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &mask_before) == 0);
  g_caller_alarms = 0;

  auto start = std::chrono::steady_clock::now();
  bool freed = wait_for_lock_free(path, 300ms);
  auto waited = std::chrono::steady_clock::now() - start;

  struct sigaction after {};
  REQUIRE(::sigaction(SIGALRM, nullptr, &after) == 0);
  sigset_t mask_after;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &mask_after) == 0);
  CHECK_FALSE(freed);
  CHECK(waited >= 300ms);
  CHECK(waited < 5s);
  CHECK(spool::FileLock::is_held_by_someone(path)); // our look took nothing from the holder
  CHECK(after.sa_handler == count_caller_alarm);
  CHECK((after.sa_flags & SA_RESTART) != 0);
  CHECK(sigismember(&mask_after, SIGALRM) == 1); // still blocked, as the caller had it
  CHECK(g_caller_alarms.load() == 0);            // the wait's own timer never reached it

  REQUIRE(::pthread_sigmask(SIG_SETMASK, &mask_before, nullptr) == 0);
  REQUIRE(::sigaction(SIGALRM, &before, nullptr) == 0);
}

TEST_CASE("wait_for_lock_free: another signal during the wait does not end it",
          "[unit][lock_wait]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  struct sigaction usr1 {};
  usr1.sa_handler = count_usr1;
  sigemptyset(&usr1.sa_mask); // no SA_RESTART: the flock returns EINTR
  struct sigaction before {};
  REQUIRE(::sigaction(SIGUSR1, &usr1, &before) == 0);
  g_usr1 = 0;
  pthread_t waiter = ::pthread_self();
  std::thread other([&holder, waiter] {
    std::this_thread::sleep_for(30ms);
    ::pthread_kill(waiter, SIGUSR1);
    std::this_thread::sleep_for(100ms);
    holder.let_go();
  });
  auto start = std::chrono::steady_clock::now();
  bool freed = wait_for_lock_free(path, 10s);
  auto waited = std::chrono::steady_clock::now() - start;
  other.join();
  REQUIRE(::sigaction(SIGUSR1, &before, nullptr) == 0);
  CHECK(g_usr1.load() == 1);
  CHECK(freed);
  CHECK(waited >= 130ms); // past the signal, until the let-go
  CHECK(waited < 5s);
}
