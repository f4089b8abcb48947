// tests/unit/chaperone/lock_wait_test.cpp: the front end's wait for a supervisor's let-go,
// blocked in flock(2) against a lock held by a real child process, with its timer signal
// aimed at the waiting thread and the process's SIGALRM left as it was found.
#include "chaperone/cli/lock_wait.hpp"
#include "spool/file_lock.hpp"
#include "tests/support/lock_holder.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <thread>

using namespace chaperone;
using namespace std::chrono_literals;
using chaperone::test::LockHolder;
using chaperone::test::TempSpool;

namespace {

// Installs `handler` for `signum` with `flags` for its life, then puts back what was there.
class ScopedHandler {
public:
  ScopedHandler(int signum, void (*handler)(int), int flags) : m_signum(signum) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = flags;
    REQUIRE(::sigaction(signum, &action, &m_before) == 0);
  }
  ScopedHandler(const ScopedHandler&) = delete;
  ScopedHandler& operator=(const ScopedHandler&) = delete;
  ScopedHandler(ScopedHandler&&) = delete;
  ScopedHandler& operator=(ScopedHandler&&) = delete;
  ~ScopedHandler() { (void)::sigaction(m_signum, &m_before, nullptr); }

private:
  int m_signum;
  struct sigaction m_before {};
};

// One wait_for_lock_free(), timed.
struct TimedWait {
  bool freed = false;
  std::chrono::steady_clock::duration took{};
};

TimedWait timed_wait(const std::filesystem::path& path, std::chrono::milliseconds limit) {
  auto start = std::chrono::steady_clock::now();
  bool freed = wait_for_lock_free(path, limit);
  return {freed, std::chrono::steady_clock::now() - start};
}

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
  auto [freed, waited] = timed_wait(path, 10s);
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

  ScopedHandler caller(SIGALRM, count_caller_alarm, SA_RESTART);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGALRM);
  sigset_t mask_before;
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &mask_before) == 0);
  g_caller_alarms = 0;

  auto [freed, waited] = timed_wait(path, 300ms);

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
}

TEST_CASE("wait_for_lock_free: another signal during the wait does not end it",
          "[unit][lock_wait]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  ScopedHandler usr1(SIGUSR1, count_usr1, 0); // no SA_RESTART: the flock returns EINTR
  g_usr1 = 0;
  pthread_t waiter = ::pthread_self();
  std::thread other([&holder, waiter] {
    std::this_thread::sleep_for(30ms);
    ::pthread_kill(waiter, SIGUSR1);
    std::this_thread::sleep_for(100ms);
    holder.let_go();
  });
  auto [freed, waited] = timed_wait(path, 10s);
  other.join();
  CHECK(g_usr1.load() == 1);
  CHECK(freed);
  CHECK(waited >= 130ms); // past the signal, until the let-go
  CHECK(waited < 5s);
}
