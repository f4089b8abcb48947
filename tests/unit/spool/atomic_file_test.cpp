// tests/unit/spool/atomic_file_test.cpp: readers see the old or the new content, never a mix.
#include "spool/atomic_file.hpp"
#include "spool/io.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>

using namespace std::chrono_literals;

using namespace chaperone;
using chaperone::test::TempSpool;

namespace {

std::vector<std::string> entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST_CASE("AtomicFile replaces the content on commit and leaves no temp file",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "state.json";
  test::write_whole_file(target, "old");
  {
    spool::AtomicFile file(target);
    file.write("new ");
    file.write("content");
    CHECK(test::read_whole_file(target) == "old"); // nothing visible before commit
    file.commit();
  }
  CHECK(test::read_whole_file(target) == "new content");
  CHECK(entries(spool.scratch()) == std::vector<std::string>{"state.json"});
}

TEST_CASE("AtomicFile creates its file with mode 0600", "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "fresh";
  ::umask(022);
  spool::write_file_atomically(target, "x");
  struct stat st {};
  REQUIRE(::stat(target.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("AtomicFile destroyed without commit removes its temp file and keeps the old content",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "kept";
  test::write_whole_file(target, "old");
  {
    spool::AtomicFile file(target);
    file.write("half-written");
    CHECK(entries(spool.scratch()).size() == 2); // the temp file exists meanwhile
  }
  CHECK(test::read_whole_file(target) == "old");
  CHECK(entries(spool.scratch()) == std::vector<std::string>{"kept"});
}

TEST_CASE("AtomicFile commit that fails throws naming the path and removes its temp file",
          "[unit][atomic_file]") {
  TempSpool spool;
  // rename(2) cannot replace a non-empty directory.
  std::filesystem::path target = spool.scratch() / "a-dir";
  std::filesystem::create_directory(target);
  test::write_whole_file(target / "inside", "x");
  {
    spool::AtomicFile file(target);
    file.write("data");
    try {
      file.commit();
      FAIL("commit over a non-empty directory succeeded");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()).find("a-dir") != std::string::npos);
      CHECK(e.code().value() != 0);
    }
  }
  CHECK(entries(spool.scratch()) == std::vector<std::string>{"a-dir"});
  CHECK(test::read_whole_file(target / "inside") == "x");
}

TEST_CASE("AtomicFile in a missing directory throws system_error naming it",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "missing" / "file";
  CHECK_THROWS_AS(spool::AtomicFile(target), std::system_error);
  CHECK_THROWS_WITH(spool::AtomicFile(target), Catch::Contains("missing"));
}

TEST_CASE("a reader never sees a mix or an empty file while AtomicFile replaces it",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "contended";
  const std::string a(64 * 1024, 'a');
  const std::string b(64 * 1024, 'b');
  spool::write_file_atomically(target, a);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::atomic<int> writes{0};
  std::atomic<int> reads_during_writes{0};
  std::thread reader([&] {
    while (!done) {
      int writes_before = writes;
      std::string seen = test::read_whole_file(target);
      if (seen != a && seen != b) {
        ++bad;
      }
      // Counts only reads that overlapped a replacement (the writer moved on meanwhile).
      if (writes != writes_before) {
        ++reads_during_writes;
      }
      ++reads;
    }
  });
  // Keep replacing until the reader has raced the writer many times, not just once.
  auto deadline = test::deadline_in(30s);
  int i = 0;
  while ((i < 200 || reads_during_writes < 200) && test::Clock::now() < deadline) {
    spool::write_file_atomically(target, i % 2 ? a : b);
    ++i;
    ++writes;
  }
  done = true;
  reader.join();
  INFO(writes << " replacements, " << reads << " reads, " << reads_during_writes
              << " of them during a replacement");
  CHECK(bad == 0);
  CHECK(reads_during_writes >= 200);
}

TEST_CASE("fsync_together syncs every target and names the one that failed",
          "[unit][atomic_file][fsync]") {
  TempSpool spool;
  std::filesystem::path a = spool.scratch() / "a";
  std::filesystem::path b = spool.scratch() / "b";
  spool::Fd fa = spool::open_or_throw(a, O_WRONLY | O_CREAT, 0600);
  spool::Fd fb = spool::open_or_throw(b, O_WRONLY | O_CREAT, 0600);
  spool::write_all(fa.get(), "state", "a");
  spool::write_all(fb.get(), "spec", "b");
  CHECK_NOTHROW(spool::fsync_together({}));
  CHECK_NOTHROW(spool::fsync_together({{fa.get(), "a"}}));
  CHECK_NOTHROW(spool::fsync_together({{fa.get(), "a"}, {fb.get(), "b"}}));
  // A failure on a helper thread comes back to the caller, naming its target; so does one
  // on the caller's own thread. The other targets are still synced (no exception lost).
  for (int bad_at = 0; bad_at < 3; ++bad_at) {
    std::vector<spool::SyncTarget> targets{{fa.get(), "a"}, {fb.get(), "b"}, {fa.get(), "a2"}};
    targets[static_cast<size_t>(bad_at)] = {-1, "the bad one"};
    try {
      spool::fsync_together(targets);
      FAIL("no exception for an fsync of fd -1 at " << bad_at);
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == EBADF);
      CHECK(std::string(e.what()).find("the bad one") != std::string::npos);
    }
  }
}

TEST_CASE("a durable commit with further dirs renames and syncs them, naming a missing one",
          "[unit][atomic_file][fsync]") {
  TempSpool spool;
  std::filesystem::path dir = spool.scratch() / "run";
  std::filesystem::create_directory(dir);
  std::filesystem::path target = dir / "state.json";
  {
    spool::AtomicFile file(target);
    file.write("final");
    file.sync();
    file.commit({spool.scratch()});
  }
  CHECK(chaperone::test::read_whole_file(target) == "final");
  CHECK(entries(dir) == std::vector<std::string>{"state.json"});
  spool::AtomicFile file(target);
  file.write("again");
  CHECK_THROWS_WITH(file.commit({spool.scratch() / "gone"}), Catch::Contains("gone"));
}

TEST_CASE("AtomicFile over an existing file writes into it, cuts it to length and renames it",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "state.json";
  std::filesystem::path reserve = spool.scratch() / ".state.reserve";
  test::write_whole_file(target, "old");
  {
    spool::Fd fd = spool::open_or_throw(reserve, O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(::posix_fallocate(fd.get(), 0, 65536) == 0);
  }
  struct stat before {};
  REQUIRE(::stat(reserve.c_str(), &before) == 0);
  for (auto durability : {spool::Durability::durable, spool::Durability::atomic_only}) {
    if (durability == spool::Durability::atomic_only) {
      test::write_whole_file(reserve, std::string(1000, 'z'));
      REQUIRE(::stat(reserve.c_str(), &before) == 0);
    }
    test::write_whole_file(target, "old");
    {
      spool::AtomicFile file(target, reserve, durability);
      file.write("new ");
      file.write("content");
      CHECK(test::read_whole_file(target) == "old"); // nothing visible before commit
      file.commit();
    }
    CHECK(test::read_whole_file(target) == "new content"); // cut to what was written
    struct stat after {};
    REQUIRE(::stat(target.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino); // the same inode: none was made
    CHECK(entries(spool.scratch()) == std::vector<std::string>{"state.json"});
  }
}

TEST_CASE("AtomicFile over an existing file refuses a missing, linked or non-regular one and "
          "leaves it",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "state.json";
  std::filesystem::path reserve = spool.scratch() / ".state.reserve";
  test::write_whole_file(target, "old");
  CHECK_THROWS_AS(spool::AtomicFile(target, reserve, spool::Durability::durable),
                  std::system_error);
  REQUIRE(::mkfifo(reserve.c_str(), 0600) == 0); // must not hang on open
  CHECK_THROWS_AS(spool::AtomicFile(target, reserve, spool::Durability::durable),
                  std::system_error);
  std::filesystem::remove(reserve);
  test::write_whole_file(reserve, "reserve");
  std::filesystem::create_hard_link(reserve, spool.scratch() / "other-name");
  CHECK_THROWS_AS(spool::AtomicFile(target, reserve, spool::Durability::durable),
                  std::system_error);
  std::filesystem::remove(spool.scratch() / "other-name");
  {
    spool::AtomicFile file(target, reserve, spool::Durability::durable);
    file.write("never committed");
  }
  CHECK(test::read_whole_file(target) == "old");
  CHECK(std::filesystem::exists(reserve)); // the caller's file stays
}

TEST_CASE("AtomicFile with keep_replaced_as swaps the files: the replaced one keeps its inode "
          "and content under the new name",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "state.json";
  std::filesystem::path kept = spool.scratch() / ".state.replaced.1";
  test::write_whole_file(target, "old");
  struct stat old_file {};
  REQUIRE(::stat(target.c_str(), &old_file) == 0);
  for (auto durability : {spool::Durability::durable, spool::Durability::atomic_only}) {
    std::filesystem::remove(kept);
    test::write_whole_file(target, "old");
    REQUIRE(::stat(target.c_str(), &old_file) == 0);
    spool::AtomicFile file(target, durability);
    file.keep_replaced_as(kept);
    file.write("new");
    file.commit();
    CHECK(file.kept_replaced());
    CHECK(test::read_whole_file(target) == "new");
    CHECK(test::read_whole_file(kept) == "old");
    struct stat now_kept {};
    REQUIRE(::stat(kept.c_str(), &now_kept) == 0);
    CHECK(now_kept.st_ino == old_file.st_ino); // not freed: moved
    CHECK(now_kept.st_nlink == 1);
    CHECK(entries(spool.scratch()) == std::vector<std::string>{".state.replaced.1", "state.json"});
  }
}

TEST_CASE("AtomicFile with keep_replaced_as lets the replaced file go when the name is taken, "
          "and renames when there is nothing to replace",
          "[unit][atomic_file]") {
  TempSpool spool;
  std::filesystem::path target = spool.scratch() / "state.json";
  std::filesystem::path kept = spool.scratch() / ".state.replaced.1";
  test::write_whole_file(target, "old");
  test::write_whole_file(kept, "somebody's");
  {
    spool::AtomicFile file(target, spool::Durability::durable);
    file.keep_replaced_as(kept);
    file.write("new");
    file.commit();
    CHECK_FALSE(file.kept_replaced());
  }
  CHECK(test::read_whole_file(target) == "new");
  CHECK(test::read_whole_file(kept) == "somebody's"); // never overwritten
  CHECK(entries(spool.scratch()) == std::vector<std::string>{".state.replaced.1", "state.json"});

  std::filesystem::path fresh = spool.scratch() / "fresh.json";
  {
    spool::AtomicFile file(fresh, spool::Durability::durable);
    file.keep_replaced_as(spool.scratch() / "kept-fresh");
    file.write("first");
    file.commit();
    CHECK_FALSE(file.kept_replaced());
  }
  CHECK(test::read_whole_file(fresh) == "first");
  CHECK_FALSE(std::filesystem::exists(spool.scratch() / "kept-fresh"));
}
