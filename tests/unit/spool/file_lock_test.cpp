// tests/unit/spool/file_lock_test.cpp: the lock that proves a supervisor alive, held by a
// real child process and released by the kernel when that process dies.
#include "spool/file_lock.hpp"
#include "tests/support/lock_holder.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <thread>

using namespace chaperone;
using namespace std::chrono_literals;
using chaperone::test::LockHolder;
using chaperone::test::TempSpool;

TEST_CASE("FileLock::try_exclusive takes a free lock and is refused a held one",
          "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  CHECK_FALSE(spool::FileLock::is_held_by_someone(path)); // missing file: not held
  spool::FileLock first = spool::FileLock::try_exclusive(path);
  REQUIRE(first.held());
  CHECK(spool::FileLock::is_held_by_someone(path));
  // A second open file description, even in the same process, is refused.
  spool::FileLock second = spool::FileLock::try_exclusive(path);
  CHECK_FALSE(second.held());
  // The fd is close-on-exec: a spawned program must never inherit the lock.
  CHECK((::fcntl(first.fd(), F_GETFD) & FD_CLOEXEC) != 0);
  first = spool::FileLock();
  CHECK_FALSE(spool::FileLock::is_held_by_someone(path));
  CHECK(spool::FileLock::try_exclusive(path).held());
}

TEST_CASE("a lock held by a live process is seen as held, and freed the moment it is killed",
          "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  CHECK(spool::FileLock::is_held_by_someone(path));
  CHECK_FALSE(spool::FileLock::try_exclusive(path).held());
  // Probing does not disturb the holder.
  CHECK(spool::FileLock::is_held_by_someone(path));

  holder.kill();
  // Released by the kernel at death, before anyone reaps the zombie.
  REQUIRE(test::wait_until(test::deadline_in(5s), "the lock to be released", [&] {
    return !spool::FileLock::is_held_by_someone(path);
  }));
  spool::FileLock taken = spool::FileLock::try_exclusive(path);
  CHECK(taken.held());
  holder.reap();
}

TEST_CASE("FileLock refuses to follow a symlink planted as the lock file", "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "elsewhere";
  test::write_whole_file(target, "");
  std::filesystem::path link = spool.scratch() / "lock";
  std::filesystem::create_symlink(target, link);
  CHECK_THROWS_AS(spool::FileLock::try_exclusive(link), std::system_error);
  CHECK_THROWS_AS(spool::FileLock::is_held_by_someone(link), std::system_error);
}

TEST_CASE("wait_until_free: a free or missing lock is free at once", "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  CHECK(spool::FileLock::wait_until_free(path, 0ms)); // missing
  spool::FileLock mine = spool::FileLock::try_exclusive(path);
  REQUIRE(mine.held());
  mine = spool::FileLock(); // made and let go
  CHECK(spool::FileLock::wait_until_free(path, 0ms));
}

TEST_CASE("wait_until_free: a holder that stays is waited for up to the limit, then refused",
          "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(spool::FileLock::wait_until_free(path, 300ms));
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  CHECK(spool::FileLock::is_held_by_someone(path)); // our look took nothing from the holder
}

TEST_CASE("wait_until_free: returns soon after the holder lets go", "[unit][file_lock]") {
  TempSpool spool;
  std::filesystem::path path = spool.scratch() / "lock";
  LockHolder holder(path);
  // Killed from another thread while we wait: the kernel's close of the holder's fd drops
  // the lock. The wait looks again at least every 250 us, so it returns right after; the
  // bound below only tells a return at the let-go from one at the 10 s limit, under load.
  std::thread killer([&holder] {
    std::this_thread::sleep_for(30ms);
    holder.kill();
  });
  auto start = std::chrono::steady_clock::now();
  bool freed = spool::FileLock::wait_until_free(path, 10s);
  auto waited = std::chrono::steady_clock::now() - start;
  killer.join();
  holder.reap();
  CHECK(freed);
  CHECK(waited >= 30ms);
  CHECK(waited < 5s);
  CHECK_FALSE(spool::FileLock::is_held_by_someone(path));
}
