// tests/integration/retention_test.cpp: CHAPERONE_RETENTION collects old runs off the launch
// path: the `run` that claims the hour returns without waiting for the gc, which then removes
// the old runs in the background, one gc at a time, with no zombie left behind.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace chaperone::test {

namespace {

// Copies the finished run `source` to `count` runs named old-N that ended in 2020.
std::vector<std::string>
make_old_runs(const TempSpool& spool, const std::string& source, int count) {
  nlohmann::json state = spool.state(source);
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    std::string id = "old-" + std::to_string(i);
    std::filesystem::copy(spool.run_dir(source), spool.run_dir(id));
    state["run_id"] = id;
    state["start_time"] = "2020-01-01T00:00:00.000000Z";
    state["end_time"] = "2020-01-01T00:00:01.000000Z";
    write_whole_file(spool.run_dir(id) / "state.json", state.dump(2) + "\n");
    ids.push_back(id);
  }
  return ids;
}

size_t existing(const TempSpool& spool, const std::vector<std::string>& ids) {
  size_t n = 0;
  for (const std::string& id : ids) {
    n += std::filesystem::exists(spool.run_dir(id)) ? 1 : 0;
  }
  return n;
}

// An open fd on <root>/.gc-stamp with an mtime two hours back (the hour is free to claim).
int old_stamp(const TempSpool& spool) {
  std::filesystem::path stamp = spool.root() / ".gc-stamp";
  int fd = ::open(stamp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  timespec old[2]{{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  REQUIRE(::futimens(fd, old) == 0);
  return fd;
}

// A finished run "source" and `count` copies of it that ended in 2020 (make_old_runs), and
// the open .gc-stamp of old_stamp.
struct OldRuns {
  std::vector<std::string> doomed;
  int stamp;
};
OldRuns old_runs_and_stamp(const TempSpool& spool, int count) {
  REQUIRE(run_chaperone(spool, {"run", "--name", "source", "--", "true"}).exit_code == 0);
  REQUIRE(wait_until(deadline_in(30s), "the supervisor of source to let go", [&] {
    return run_lock_free(spool.run_dir("source"));
  }));
  return {make_old_runs(spool, "source", count), old_stamp(spool)};
}

bool stamp_lock_free(const TempSpool& spool) {
  int fd = ::open((spool.root() / ".gc-stamp").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

} // namespace

TEST_CASE("run -d claiming the retention hour returns before the gc, which then removes the "
          "old runs",
          "[integration][retention]") {
  TempSpool spool;
  OldRuns old = old_runs_and_stamp(spool, 300);
  const std::vector<std::string>& doomed = old.doomed;
  int stamp = old.stamp;
  // Hold the gc's turn, as an earlier gc still working on a large spool would: the new gc
  // must wait for it, and the launch must not wait for either.
  REQUIRE(::flock(stamp, LOCK_EX) == 0);
  RunOptions options;
  options.env = {"CHAPERONE_RETENTION=1d"};
  options.deadline = 30s;
  RunResult launched =
      run_chaperone(spool, {"run", "-d", "--name", "trigger", "--", "true"}, options);
  INFO("stderr: " << launched.err);
  REQUIRE(launched.exit_code == 0);
  CHECK(launched.out == "trigger\n");
  // Returned (stdout at EOF: the gc kept none of our fds) while the gc has not removed a run.
  CHECK(existing(spool, doomed) == doomed.size());
  struct stat st {};
  REQUIRE(::fstat(stamp, &st) == 0);
  CHECK(st.st_mtime > ::time(nullptr) - 3600); // the hour was claimed
  REQUIRE(::flock(stamp, LOCK_UN) == 0);
  ::close(stamp);
  CHECK(wait_until(deadline_in(60s), "the background gc to remove the old runs", [&] {
    return existing(spool, doomed) == 0;
  }));
  // It let go of the stamp (it exited), kept what is young, and logged no error.
  CHECK(wait_until(
      deadline_in(30s), "the background gc to exit", [&] { return stamp_lock_free(spool); }));
  CHECK(std::filesystem::exists(spool.run_dir("source")));
  CHECK(std::filesystem::exists(spool.run_dir("trigger")));
  CHECK_FALSE(std::filesystem::exists(spool.root() / ".retention.log"));
  REQUIRE(wait_until(deadline_in(30s), "the supervisor of trigger to let go", [&] {
    return run_lock_free(spool.run_dir("trigger"));
  }));
}

TEST_CASE("an attached run claiming the retention hour leaves no zombie and no second gc",
          "[integration][retention]") {
  TempSpool spool;
  OldRuns old = old_runs_and_stamp(spool, 20);
  const std::vector<std::string>& doomed = old.doomed;
  int stamp = old.stamp;
  REQUIRE(::flock(stamp, LOCK_EX) == 0);
  std::filesystem::path fifo = spool.scratch() / "gate";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  RunOptions options;
  options.env = {"CHAPERONE_RETENTION=1d"};
  ChaperoneProcess attached(
      spool,
      {"run", "--name", "held", "--", "sh", "-c", "echo started; read line < " + fifo.string()},
      options);
  // Output streams only after retention was applied and its first child reaped.
  REQUIRE(attached.read_until(deadline_in(30s), "the program's first line", [&] {
    return attached.out().find("started\n") != std::string::npos;
  }));
  for (const ProcessSnapshot& p : list_processes()) {
    if (p.ppid == attached.pid()) {
      INFO("child of the front end: " << p.stat);
      CHECK(p.live());
    }
  }
  // A second launch in the same hour starts no gc of its own: still nothing removed while we
  // hold the turn, and the hour stays claimed.
  REQUIRE(run_chaperone(spool, {"run", "--name", "second", "--", "true"}, options).exit_code == 0);
  CHECK(existing(spool, doomed) == doomed.size());
  {
    int writer_fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(writer_fd >= 0);
    REQUIRE(::write(writer_fd, "go\n", 3) == 3);
    ::close(writer_fd);
  }
  RunResult done = attached.finish();
  CHECK(done.exit_code == 0);
  REQUIRE(::flock(stamp, LOCK_UN) == 0);
  ::close(stamp);
  CHECK(wait_until(deadline_in(60s), "the background gc to remove the old runs", [&] {
    return existing(spool, doomed) == 0;
  }));
  CHECK(wait_until(
      deadline_in(30s), "the background gc to exit", [&] { return stamp_lock_free(spool); }));
  for (const char* id : {"source", "held", "second"}) {
    CHECK(std::filesystem::exists(spool.run_dir(id)));
    REQUIRE(wait_until(deadline_in(30s), "the supervisor to let go", [&] {
      return run_lock_free(spool.run_dir(id));
    }));
  }
}

} // namespace chaperone::test
