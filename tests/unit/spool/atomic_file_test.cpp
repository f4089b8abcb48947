// tests/unit/spool/atomic_file_test.cpp: readers see the old or the new content, never a mix.
#include "spool/atomic_file.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
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
