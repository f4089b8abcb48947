// tests/unit/spool/run_dir_test.cpp: creating runs, state I/O, and lost-supervisor detection.
#include "spool/run_dir.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/unit/spool/spool_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

using namespace chaperone;
using chaperone::test::TempSpool;

TEST_CASE("create_run makes a complete run dir (0700, files 0600) with its lock held",
          "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  spool::RunState initial = test::running_state("r1");
  initial.state = spool::RunStatus::starting;
  spool::NewRun run = spool::create_run(root, "r1", nlohmann::json{{"spec", true}}, initial);
  CHECK(run.dir.path() == spool.root() / "r1");
  CHECK(run.dir.run_id() == "r1");
  CHECK(run.lock.held());
  CHECK(run.dir.supervisor_alive());
  CHECK(spool.listing() == std::vector<std::string>{"r1"});
  struct stat st {};
  REQUIRE(::stat(run.dir.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  for (const char* name : {"spec.json", "state.json", "stdout", "stderr", "lock"}) {
    INFO(name);
    REQUIRE(::stat(run.dir.file(name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK(spool.output("r1", "stdout").empty());
  CHECK(spool.state("r1")["state"] == "starting");
  CHECK(spool.spec("r1")["spec"] == true);
  CHECK(run.dir.read_state().state == spool::RunStatus::starting);
}

TEST_CASE("create_run on an existing id throws EEXIST and leaves nothing behind",
          "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  test::FixtureRun first = test::make_run(spool, "taken");
  test::write_whole_file(first.dir.stream_path(spool::Stream::out), "first's output");
  std::string state_before = test::read_whole_file(first.dir.file("state.json"));
  std::vector<std::string> before = spool.listing();
  try {
    spool::create_run(root, "taken", nlohmann::json::object(), test::running_state("taken"));
    FAIL("created a second run called taken");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::file_exists);
    CHECK(std::string(e.what()).find("taken") != std::string::npos);
  }
  // RENAME_NOREPLACE: the first run is untouched and no hidden staging dir is left.
  CHECK(spool.listing() == before);
  CHECK(test::read_whole_file(first.dir.stream_path(spool::Stream::out)) == "first's output");
  CHECK(test::read_whole_file(first.dir.file("state.json")) == state_before);
}

TEST_CASE("create_run refuses every later creator of an id that exists", "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  // 20 creators at once, released together, so they race for the name; then 20 more after.
  constexpr int k_racers = 20;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::atomic<int> other_error{0};
  std::mutex kept_mutex;
  std::vector<spool::NewRun> kept;
  auto create = [&] {
    try {
      spool::NewRun run =
          spool::create_run(root, "same", nlohmann::json::object(), test::running_state("same"));
      std::lock_guard<std::mutex> lock(kept_mutex);
      kept.push_back(std::move(run));
      ++created;
    } catch (const std::system_error& e) {
      ++(e.code() == std::errc::file_exists ? refused : other_error);
    }
  };
  std::latch start(k_racers);
  std::vector<std::thread> racers;
  for (int i = 0; i < k_racers; ++i) {
    racers.emplace_back([&] {
      start.arrive_and_wait();
      create();
    });
  }
  for (std::thread& racer : racers) {
    racer.join();
  }
  for (int i = 0; i < k_racers; ++i) {
    create();
  }
  CHECK(created == 1);
  CHECK(refused == 2 * k_racers - 1);
  CHECK(other_error == 0);
  CHECK(spool.listing() == std::vector<std::string>{"same"});
}

TEST_CASE("write_state and read_state round-trip every field, extra ones included",
          "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "rt");
  spool::RunState state = test::running_state("rt");
  state.state = spool::RunStatus::signaled;
  state.pid = 1234;
  state.pgid = 1234;
  state.signal = 9;
  state.exit_code = 137;
  state.stdout_bytes = 1ULL << 40;
  state.stderr_bytes = 7;
  state.error = "why";
  state.extra["custom"] = {{"kept", true}};
  run.dir.write_state(state);
  spool::RunState back = run.dir.read_state();
  CHECK(back.to_json() == state.to_json());
  nlohmann::json outside = spool.state("rt");
  CHECK(outside["output"]["stdout"] == 1ULL << 40);
  CHECK(outside["custom"]["kept"] == true);
}

TEST_CASE("read_state names the run when state.json is damaged", "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "damaged");
  std::string text = GENERATE(std::string("{not json"),
                              std::string("[]"),
                              std::string(R"({"state": "bogus"})"),
                              std::string(R"({"run_id": "x"})"),
                              std::string(R"({"state": "running", "pid": "1"})"));
  INFO(text);
  test::write_whole_file(run.dir.file("state.json"), text);
  CHECK_THROWS_WITH(run.dir.read_state(),
                    Catch::Contains("damaged") && Catch::Contains("state.json"));
}

TEST_CASE("read_state_resolving_lost leaves a run alone while its lock is held",
          "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "alive");
  std::string before = test::read_whole_file(run.dir.file("state.json"));
  CHECK(run.dir.read_state_resolving_lost().state == spool::RunStatus::running);
  CHECK(test::read_whole_file(run.dir.file("state.json")) == before);
}

TEST_CASE("read_state_resolving_lost turns a running run with no lock holder into lost",
          "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "dead");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "12345");
  test::write_whole_file(run.dir.stream_path(spool::Stream::err), "ab");
  run.lock.reset(); // the "supervisor" dies
  spool::RunState state = run.dir.read_state_resolving_lost();
  CHECK(state.state == spool::RunStatus::lost);
  CHECK(state.exit_code == 125);
  CHECK(state.cli_exit_code() == 125);
  REQUIRE(state.error.has_value());
  CHECK(state.error->find("supervisor") != std::string::npos);
  CHECK(state.stdout_bytes == 5);
  CHECK(state.stderr_bytes == 2);
  // Recorded for every other reader, and final from now on.
  nlohmann::json outside = spool.state("dead");
  CHECK(outside["state"] == "lost");
  CHECK(outside["output"]["stdout"] == 5);
  CHECK(run.dir.read_state_resolving_lost().to_json() == state.to_json());
}

TEST_CASE("read_state_resolving_lost never changes a final state", "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "done");
  test::finish_run(run.dir);
  run.lock.reset();
  std::string before = test::read_whole_file(run.dir.file("state.json"));
  CHECK(run.dir.read_state_resolving_lost().state == spool::RunStatus::exited);
  CHECK(test::read_whole_file(run.dir.file("state.json")) == before);
}

namespace {

// How many of our fds still hold `path` after it was replaced (readlink: "PATH (deleted)").
int held_replaced(const std::filesystem::path& path) {
  int held = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    std::filesystem::path target = std::filesystem::read_symlink(entry.path(), error);
    if (!error && target.string() == path.string() + " (deleted)") {
      ++held;
    }
  }
  return held;
}

struct stat stat_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

} // namespace

TEST_CASE("state writes with ReleaseLater free no inode: the first replaced state and the one "
          "the final state replaced are kept; release() empties them unless read, and trims the "
          "final state's tail keeping its mtime",
          "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  spool::RunState state = test::running_state("r1");
  state.state = spool::RunStatus::starting;
  spool::NewRun run = spool::create_run(root, "r1", nlohmann::json::object(), state);
  std::filesystem::path reserve = run.dir.file(".state.reserve");
  std::filesystem::path state_path = run.dir.file("state.json");
  std::filesystem::path first_kept = run.dir.file(".state.replaced.1");
  std::filesystem::path last_kept = run.dir.file(".state.replaced.2");
  // The reserve's blocks are allocated past its end: it is empty.
  struct stat st = stat_of(reserve);
  CHECK(st.st_size == 0);
  CHECK(st.st_blocks * 512 >= 64 * 1024);
  ino_t starting_inode = stat_of(state_path).st_ino;
  std::string starting_text = test::read_whole_file(state_path);

  spool::ReleaseLater later;
  state.state = spool::RunStatus::running;
  run.dir.write_state(state, &later);
  CHECK(held_replaced(state_path) == 0); // nothing deleted
  CHECK(stat_of(first_kept).st_ino == starting_inode);
  CHECK(test::read_whole_file(first_kept) == starting_text);
  ino_t running_inode = stat_of(state_path).st_ino;

  // A long run's further states are let go (held open until release()): only two are kept.
  state.pid = 4242;
  run.dir.write_state(state, &later);
  CHECK(held_replaced(state_path) == 1);
  CHECK(stat_of(first_kept).st_ino == starting_inode);
  ino_t last_running_inode = stat_of(state_path).st_ino;
  CHECK(last_running_inode != running_inode);
  std::string last_running_text = test::read_whole_file(state_path);

  state.state = spool::RunStatus::exited;
  state.exit_code = 0;
  state.return_code = 0;
  run.dir.write_state(state, &later);
  CHECK(held_replaced(state_path) == 1); // the same one; the running state was kept
  CHECK(stat_of(last_kept).st_ino == last_running_inode);
  CHECK(test::read_whole_file(last_kept) == last_running_text);
  CHECK(stat_of(first_kept).st_ino == starting_inode);
  CHECK_FALSE(std::filesystem::exists(reserve));
  std::string text = test::read_whole_file(state_path);
  CHECK(nlohmann::json::parse(text)["state"] == "exited");
  st = stat_of(state_path);
  CHECK(st.st_size == static_cast<off_t>(text.size())); // its length without a cut
  CHECK(st.st_blocks * 512 >= 64 * 1024);               // the tail is still allocated
  struct timespec recorded = st.st_mtim;

  // A reader that opened state.json just before it was swapped out still has it open.
  int reader = ::open(last_kept.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(reader >= 0);
  later.release();
  CHECK(held_replaced(state_path) == 0);
  // Kept states are emptied (their blocks go back, their inodes stay), unless still read.
  CHECK(stat_of(first_kept).st_ino == starting_inode);
  CHECK(stat_of(first_kept).st_size == 0);
  CHECK(test::read_whole_file(last_kept) == last_running_text);
  ::close(reader);
  st = stat_of(state_path);
  CHECK(st.st_blocks * 512 < 64 * 1024); // trimmed
  CHECK(st.st_size == static_cast<off_t>(text.size()));
  CHECK(st.st_mtim.tv_sec == recorded.tv_sec); // what the index recorded
  CHECK(st.st_mtim.tv_nsec == recorded.tv_nsec);
  CHECK(test::read_whole_file(state_path) == text);
  later.release(); // twice is harmless
  CHECK(test::read_whole_file(state_path) == text);
  CHECK(stat_of(first_kept).st_ino == starting_inode);
  CHECK(stat_of(last_kept).st_ino == last_running_inode);
}

TEST_CASE("release() leaves a final state.json that somebody emptied, rewrote or holds open "
          "for writing as they left it: no zeros, no mtime put back",
          "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  auto final_run = [&](const std::string& name, spool::ReleaseLater& later) {
    spool::RunState state = test::running_state(name);
    spool::NewRun run = spool::create_run(root, name, nlohmann::json::object(), state);
    state.state = spool::RunStatus::exited;
    state.exit_code = 0;
    state.return_code = 0;
    run.dir.write_state(state, &later);
    std::filesystem::path path = run.dir.file("state.json");
    REQUIRE(stat_of(path).st_blocks * 512 >= 64 * 1024); // a tail to trim
    return path;
  };
  SECTION("emptied") {
    spool::ReleaseLater later;
    std::filesystem::path path = final_run("emptied", later);
    test::write_whole_file(path, "");
    struct stat before = stat_of(path);
    later.release();
    struct stat after = stat_of(path);
    CHECK(after.st_size == 0); // an ftruncate to the published length would pad with zeros
    CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  }
  SECTION("rewritten with other text of the same length") {
    spool::ReleaseLater later;
    std::filesystem::path path = final_run("rewritten", later);
    std::string text = test::read_whole_file(path);
    std::string other(text.size(), 'x');
    // In place, without O_TRUNC: the tail stays allocated, only the mtime tells.
    int editor = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(editor >= 0);
    REQUIRE(::pwrite(editor, other.data(), other.size(), 0) == static_cast<ssize_t>(other.size()));
    ::close(editor);
    REQUIRE(stat_of(path).st_blocks * 512 >= 64 * 1024);
    struct stat before = stat_of(path);
    later.release();
    struct stat after = stat_of(path);
    CHECK(test::read_whole_file(path) == other);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec); // not the mtime the index recorded
    CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  }
  SECTION("open for writing elsewhere") {
    spool::ReleaseLater later;
    std::filesystem::path path = final_run("held", later);
    std::string text = test::read_whole_file(path);
    int writer = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(writer >= 0);
    later.release();
    // The writer may truncate at any moment: the tail is left, the text untouched.
    CHECK(stat_of(path).st_blocks * 512 >= 64 * 1024);
    CHECK(test::read_whole_file(path) == text);
    ::close(writer);
  }
  SECTION("read briefly: trimmed once the reader closes") {
    spool::ReleaseLater later;
    std::filesystem::path path = final_run("read", later);
    std::string text = test::read_whole_file(path);
    struct stat before = stat_of(path);
    int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); // `wait ID; cat state.json`
    REQUIRE(reader >= 0);
    std::thread closer([reader] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::close(reader);
    });
    later.release();
    closer.join();
    struct stat after = stat_of(path);
    CHECK(after.st_blocks * 512 < 64 * 1024);
    CHECK(test::read_whole_file(path) == text);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  }
}

TEST_CASE("a final state written without ReleaseLater is cut to its length at once",
          "[unit][run_dir]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  spool::RunState state = test::running_state("r2");
  spool::NewRun run = spool::create_run(root, "r2", nlohmann::json::object(), state);
  std::filesystem::path state_path = run.dir.file("state.json");
  state.state = spool::RunStatus::exited;
  state.exit_code = 3;
  state.return_code = 3;
  run.dir.write_state(state);
  CHECK(held_replaced(state_path) == 0);
  std::string text = test::read_whole_file(state_path);
  CHECK(nlohmann::json::parse(text)["exit_code"] == 3);
  struct stat st = stat_of(state_path);
  CHECK(st.st_size == static_cast<off_t>(text.size()));
  CHECK(st.st_blocks * 512 < 64 * 1024);
  CHECK_FALSE(std::filesystem::exists(run.dir.file(".state.reserve")));
}

TEST_CASE("make_launch_durable syncs what the launch wrote; a final state after it is complete",
          "[unit][run_dir]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "ld");
  CHECK(run.dir.make_launch_durable());
  spool::RunState state = test::running_state("ld");
  state.state = spool::RunStatus::exited;
  state.exit_code = 3;
  run.dir.write_state(state);
  CHECK(run.dir.read_state().to_json() == state.to_json());
  CHECK(spool.state("ld")["exit_code"] == 3);

  // A run with no spec.json (written by hand) has nothing of its own to sync but the root.
  std::filesystem::remove(run.dir.file(spool::k_spec_file));
  CHECK(run.dir.make_launch_durable());

  // A run dir whose root is gone cannot be synced: false, and the final state syncs it all
  // (and fails, naming what it could not open).
  spool::RunDir orphan(spool.scratch() / "no-root" / "ld2", "ld2");
  CHECK_FALSE(orphan.make_launch_durable());
  CHECK_THROWS_AS(orphan.write_state(state), std::system_error);
}
