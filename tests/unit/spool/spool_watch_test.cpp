// tests/unit/spool/spool_watch_test.cpp: SpoolWatch misses no event a reader of a run acts on
// (a final state renamed in or written in place, the supervisor's death, the run dir going
// away), also when a file watch cannot be had, and keeps the run dir's children unmarked so
// that the program's writes to stdout never walk to the watched dir.
#include "spool/release_later.hpp"
#include "spool/spool_watch.hpp"
#include "tests/support/process_info.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/unit/spool/spool_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

using namespace chaperone;
using namespace std::chrono_literals;
using chaperone::test::TempSpool;

namespace {

// Events reported through a watched dir's children: a dir watch asking for any of them marks
// every child, and each write(2) to stdout then walks to the dir (fsnotify's
// FS_EVENTS_POSS_ON_CHILD, as inotify can ask for them).
constexpr std::uint32_t k_child_events =
    IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN;

spool::SpoolChanges next_within(spool::SpoolWatch& watch, std::chrono::milliseconds limit) {
  return watch.next(std::chrono::steady_clock::now() + limit);
}

// The mask this process's inotify watch on `path` asks for (0: no watch on it).
std::uint32_t our_mask_on(const std::filesystem::path& path) {
  std::vector<test::InotifyWatch> found =
      test::watches_on(test::inotify_watches(::getpid()), path.string());
  return found.empty() ? 0U : found.front().mask;
}

void write_in_place(const std::filesystem::path& path, const std::string& text, int flags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | flags, 0600);
  REQUIRE(fd >= 0);
  CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// In a forked child: enters a user namespace of its own (root in it is root outside: uid 0
// mapped to 0, so the spool stays readable) and lowers its inotify watch limit to `limit`.
// False if any step is refused.
bool limit_watches_in_own_user_namespace(int limit) {
  auto put = [](const char* path, const std::string& text) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    bool done =
        fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return done;
  };
  return ::unshare(CLONE_NEWUSER) == 0 && put("/proc/self/setgroups", "deny")
         && put("/proc/self/uid_map", "0 0 1") && put("/proc/self/gid_map", "0 0 1")
         && put("/proc/sys/user/max_inotify_watches", std::to_string(limit));
}

spool::RunState final_of(const spool::RunDir& run) {
  spool::RunState state = run.read_state();
  state.state = spool::RunStatus::exited;
  state.exit_code = 0;
  state.return_code = 0;
  return state;
}

} // namespace

TEST_CASE("a SpoolWatch asks a run dir only for the dir's own events and watches state.json and "
          "lock themselves",
          "[unit][spool_watch][regression]") {
  // The dir watch of `wait` asked for IN_CLOSE_WRITE: every child of the run dir was marked,
  // and each 128-byte line the program wrote paid a walk to the dir and back (capture at
  // 0.82x of `prog > file`).
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "masks");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("masks"));
  std::uint32_t dir_mask = our_mask_on(run.dir.path());
  INFO("dir mask " << std::hex << dir_mask);
  REQUIRE(dir_mask != 0);
  CHECK((dir_mask & k_child_events) == 0);
  CHECK((dir_mask & IN_MOVED_TO) != 0);
  CHECK((dir_mask & (IN_DELETE_SELF | IN_MOVE_SELF)) == (IN_DELETE_SELF | IN_MOVE_SELF));
  CHECK(our_mask_on(run.dir.file(spool::k_state_file)) == IN_CLOSE_WRITE);
  CHECK(our_mask_on(run.dir.file(spool::k_lock_file)) == IN_CLOSE_WRITE);
  CHECK(our_mask_on(run.dir.stream_path(spool::Stream::out)) == 0);
  // After a state write (a new inode renamed into place) the new state.json is watched.
  spool::RunState state = run.dir.read_state();
  state.extra["step"] = 1;
  run.dir.write_state(state);
  CHECK(next_within(watch, 10s).runs.count("masks") == 1);
  CHECK(our_mask_on(run.dir.file(spool::k_state_file)) == IN_CLOSE_WRITE);
  CHECK((our_mask_on(run.dir.path()) & k_child_events) == 0);
}

TEST_CASE("a SpoolWatch sees a state.json written in place, also after states were renamed in",
          "[unit][spool_watch]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "in-place");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("in-place"));
  std::filesystem::path state_path = run.dir.file(spool::k_state_file);
  for (int round = 0; round < 3; ++round) {
    // A reader holds the current state.json open across the replacement: the replaced inode
    // lives on, so its watch is not dropped (no IN_IGNORED) and only the rename tells.
    int old_reader = ::open(state_path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(old_reader >= 0);
    // Renamed into place, as chaperone writes it: a new inode each time.
    spool::RunState state = run.dir.read_state();
    state.extra["round"] = round;
    run.dir.write_state(state);
    spool::SpoolChanges renamed = next_within(watch, 10s);
    CHECK(renamed.runs.count("in-place") == 1);
    // Then in place (open, truncate, write, close: no rename), as another tool may.
    state.extra["round"] = round + 100;
    write_in_place(state_path, state.to_json().dump(), O_TRUNC);
    spool::SpoolChanges written = next_within(watch, 10s);
    INFO("round " << round);
    REQUIRE(written.runs.count("in-place") == 1);
    CHECK(run.dir.read_state().extra["round"] == round + 100);
    ::close(old_reader);
  }
  // The final state, written in place.
  write_in_place(state_path, final_of(run.dir).to_json().dump(), O_TRUNC);
  REQUIRE(next_within(watch, 10s).runs.count("in-place") == 1);
  CHECK(run.dir.read_state().state == spool::RunStatus::exited);
}

TEST_CASE("a SpoolWatch takes its watch off a state.json swapped out and kept (RENAME_EXCHANGE), "
          "and sees the new one written in place",
          "[unit][spool_watch]") {
  // The supervisor keeps the states it replaces (ReleaseLater): the old inode lives on under
  // another name, and a watch left on it would hold one of the user's watches for nothing.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "swapped");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("swapped"));
  std::filesystem::path state_path = run.dir.file(spool::k_state_file);
  size_t before = test::inotify_watches(::getpid()).size();
  spool::ReleaseLater later;
  for (int round = 0; round < 2; ++round) {
    spool::RunState state = run.dir.read_state();
    state.extra["round"] = round;
    run.dir.write_state(state, &later);
    INFO("round " << round);
    REQUIRE(next_within(watch, 10s).runs.count("swapped") == 1);
    CHECK(our_mask_on(state_path) == IN_CLOSE_WRITE);
    CHECK(test::inotify_watches(::getpid()).size() == before);
  }
  std::filesystem::path kept = run.dir.file(spool::ReleaseLater::k_first_replaced);
  REQUIRE(std::filesystem::exists(kept));
  CHECK(our_mask_on(kept) == 0);
  write_in_place(state_path, final_of(run.dir).to_json().dump(), O_TRUNC);
  REQUIRE(next_within(watch, 10s).runs.count("swapped") == 1);
  CHECK(run.dir.read_state().state == spool::RunStatus::exited);
}

TEST_CASE("a SpoolWatch sees the lock closed by a dying supervisor", "[unit][spool_watch]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "dies");
  std::string lock_path = run.dir.file(spool::k_lock_file).string();
  run.lock.reset();
  // A real process takes the lock as the supervisor does (O_RDWR, flock), then waits.
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    char ok = fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) {
      ::_exit(1);
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(ready[1]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  ::close(ready[0]);
  REQUIRE(ok == 'y');
  spool::RunState state = run.dir.read_state();
  state.supervisor_pid = child;
  state.supervisor_start_ticks = spool::process_start_ticks(child);
  run.dir.write_state(state);

  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("dies"));
  // A reader's look at the live run wakes nobody (read_state_resolving_lost looks read-only).
  CHECK(run.dir.read_state_resolving_lost().state == spool::RunStatus::running);
  CHECK(next_within(watch, 200ms).runs.empty());
  ::kill(child, SIGKILL);
  spool::SpoolChanges changes = next_within(watch, 10s);
  ::waitpid(child, nullptr, 0);
  REQUIRE(changes.runs.count("dies") == 1);
  CHECK(run.dir.read_state_resolving_lost().state == spool::RunStatus::lost);
}

TEST_CASE("a SpoolWatch reports a run dir removed or moved away", "[unit][spool_watch]") {
  TempSpool spool;
  test::FixtureRun removed = test::make_run(spool, "removed");
  test::FixtureRun moved = test::make_run(spool, "moved");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("removed"));
  REQUIRE(watch.add_run("moved"));
  removed.lock.reset();
  moved.lock.reset();
  std::filesystem::remove_all(removed.dir.path());
  std::filesystem::rename(moved.dir.path(), spool.scratch() / "moved-away");
  spool::SpoolChanges changes;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (changes.gone.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    spool::SpoolChanges more = watch.next(deadline);
    changes.gone.insert(more.gone.begin(), more.gone.end());
  }
  CHECK(changes.gone.count("removed") == 1);
  CHECK(changes.gone.count("moved") == 1);
}

TEST_CASE("a SpoolWatch whose state.json went away has the dir ask for closes until it is back",
          "[unit][spool_watch]") {
  // No file to watch: a state.json then written in place (created, written, closed) is only
  // seen through the dir, which asks for IN_CLOSE_WRITE for that while.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "gone-state");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
  REQUIRE(watch.add_run("gone-state"));
  std::filesystem::path state_path = run.dir.file(spool::k_state_file);
  spool::RunState final_state = final_of(run.dir);
  REQUIRE(std::filesystem::remove(state_path));
  REQUIRE(next_within(watch, 10s).runs.count("gone-state") == 1); // IN_DELETE
  CHECK((our_mask_on(run.dir.path()) & IN_CLOSE_WRITE) != 0);
  write_in_place(state_path, final_state.to_json().dump(), O_CREAT | O_EXCL);
  REQUIRE(next_within(watch, 10s).runs.count("gone-state") == 1);
  CHECK(run.dir.read_state().state == spool::RunStatus::exited);
  // Back: the file is watched again, and the dir gives the closes up.
  CHECK(our_mask_on(state_path) == IN_CLOSE_WRITE);
  CHECK((our_mask_on(run.dir.path()) & k_child_events) == 0);
  // And an in-place write after that is seen through the file.
  write_in_place(state_path, final_state.to_json().dump(), O_TRUNC);
  CHECK(next_within(watch, 10s).runs.count("gone-state") == 1);
}

TEST_CASE("a SpoolWatch out of inotify watches has the dir ask for closes and still sees the "
          "supervisor die and the state written in place",
          "[unit][spool_watch]") {
  // max_user_watches is per user and shared with everything else on the machine: the limit is
  // lowered in a user namespace of our own (its ucount limit, /proc/sys/user), where the
  // watching runs in a child process.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "few-watches");
  std::string lock_path = run.dir.file(spool::k_lock_file).string();
  std::string state_path = run.dir.file(spool::k_state_file).string();
  run.lock.reset();
  int holder_ready[2];
  REQUIRE(::pipe2(holder_ready, O_CLOEXEC) == 0);
  pid_t holder = ::fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    char ok = fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
    if (::write(holder_ready[1], &ok, 1) != 1) {
      ::_exit(1);
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(holder_ready[1]);
  char ok = 0;
  REQUIRE(::read(holder_ready[0], &ok, 1) == 1);
  ::close(holder_ready[0]);
  REQUIRE(ok == 'y');
  spool::RunState state = run.dir.read_state();
  state.supervisor_pid = holder;
  state.supervisor_start_ticks = spool::process_start_ticks(holder);
  run.dir.write_state(state);

  // The watcher's steps, told back through a pipe as one byte each: 'w' watching (dir watch
  // had, lock's not, dir asks for closes), 'd' saw the death, 's' saw the in-place write;
  // a letter in upper case names the step that failed.
  int report[2];
  int go[2];
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
  pid_t watcher = ::fork();
  REQUIRE(watcher >= 0);
  if (watcher == 0) {
    auto say = [&](char c) {
      if (::write(report[1], &c, 1) != 1) {
        ::_exit(2);
      }
    };
    // Two watches: the run dir and state.json; the lock's watch fails with ENOSPC.
    if (!limit_watches_in_own_user_namespace(2)) {
      say('U');
      ::_exit(1);
    }
    try {
      spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, false);
      if (!watch.add_run("few-watches")) {
        say('A');
        ::_exit(1);
      }
      std::uint32_t dir_mask = our_mask_on(run.dir.path());
      say((dir_mask & IN_CLOSE_WRITE) != 0 && our_mask_on(lock_path) == 0 ? 'w' : 'W');
      char next = 0;
      if (::read(go[0], &next, 1) != 1) {
        ::_exit(1);
      }
      say(next_within(watch, 10s).runs.count("few-watches") == 1 ? 'd' : 'D');
      if (::read(go[0], &next, 1) != 1) {
        ::_exit(1);
      }
      say(next_within(watch, 10s).runs.count("few-watches") == 1 ? 's' : 'S');
    } catch (const std::exception& e) {
      (void)std::fprintf(stderr, "watcher: %s\n", e.what());
      say('E');
    }
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(go[0]);
  auto hear = [&] {
    char c = 0;
    return ::read(report[0], &c, 1) == 1 ? c : '?';
  };
  CHECK(hear() == 'w');
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  CHECK(::write(go[1], "g", 1) == 1);
  CHECK(hear() == 'd');
  // The death noted as `lost` by hand, written in place.
  spool::RunState lost = run.dir.read_state();
  lost.state = spool::RunStatus::lost;
  lost.exit_code = 125;
  write_in_place(state_path, lost.to_json().dump(), O_TRUNC);
  CHECK(::write(go[1], "g", 1) == 1);
  CHECK(hear() == 's');
  ::close(go[1]);
  ::close(report[0]);
  int status = 0;
  REQUIRE(::waitpid(watcher, &status, 0) == watcher);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

namespace {

// Appends `text` to the run's stream file as the program does (O_APPEND, one write(2)).
void append_to(const spool::RunDir& run, spool::Stream stream, const std::string& text) {
  write_in_place(run.stream_path(stream), text, O_APPEND);
}

std::uint64_t size_of(const spool::RunDir& run, spool::Stream stream) {
  return std::filesystem::file_size(run.stream_path(stream));
}

} // namespace

TEST_CASE("a SpoolWatch following output watches stdout and stderr with one-shot IN_MODIFY "
          "watches, never the dir",
          "[unit][spool_watch][regression]") {
  // `watch --output` had the dir of every live run ask for IN_MODIFY: each write(2) of every
  // program walked to its dir and queued an event (+75% CPU for 128-byte lines).
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "output");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, true);
  REQUIRE(watch.add_run("output"));
  auto check_masks = [&] {
    CHECK((our_mask_on(run.dir.path()) & k_child_events) == 0);
    CHECK_FALSE(watch.dir_watches_appends("output"));
    for (spool::Stream stream : {spool::Stream::out, spool::Stream::err}) {
      CHECK(our_mask_on(run.dir.stream_path(stream)) == (IN_MODIFY | IN_ONESHOT));
    }
  };
  check_masks();
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    spool::Stream stream = round % 2 == 0 ? spool::Stream::out : spool::Stream::err;
    append_to(run.dir, stream, "line\n");
    // The one-shot fired: no watch until next() reports the run and arms it again.
    CHECK(our_mask_on(run.dir.stream_path(stream)) == 0);
    REQUIRE(next_within(watch, 10s).runs.count("output") == 1);
    check_masks();
  }
  // Nothing more appended: nothing to report.
  CHECK(next_within(watch, 100ms).runs.empty());
  // A state write still reports the run and leaves the output watches as they were.
  spool::RunState state = run.dir.read_state();
  state.extra["step"] = 1;
  run.dir.write_state(state);
  CHECK(next_within(watch, 10s).runs.count("output") == 1);
  check_masks();
}

TEST_CASE("a SpoolWatch's caller reading to the end after next() misses no append made while "
          "the one-shot was off",
          "[unit][spool_watch]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "gap");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, true);
  REQUIRE(watch.add_run("gap"));
  std::uint64_t read_to = 0;
  // The first append fires the watch; the second lands while no watch is armed (after the
  // fire, before next() arms it again): it raises no event, so only the look after next()
  // returns can find it.
  append_to(run.dir, spool::Stream::out, "fires\n");
  append_to(run.dir, spool::Stream::out, "silent\n");
  REQUIRE(next_within(watch, 10s).runs.count("gap") == 1);
  read_to = size_of(run.dir, spool::Stream::out);
  CHECK(read_to == std::string("fires\nsilent\n").size());
  // And the next append after that look is reported.
  append_to(run.dir, spool::Stream::out, "after\n");
  REQUIRE(next_within(watch, 10s).runs.count("gap") == 1);
  CHECK(size_of(run.dir, spool::Stream::out) == read_to + 6);

  // Rounds of bursts from another process, each waiting until the watcher has read all of it:
  // an append that raised no event and that the look after next() missed would leave the
  // watcher blocked and the round timed out. The bursts land anywhere relative to the re-arm.
  int acks[2];
  REQUIRE(::pipe2(acks, O_CLOEXEC) == 0);
  std::filesystem::path out_path = run.dir.stream_path(spool::Stream::out);
  constexpr int k_rounds = 300;
  pid_t writer = ::fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    ::close(acks[1]);
    int fd = ::open(out_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    std::uint64_t total = read_to + 6;
    std::uint64_t acked = 0;
    for (int round = 0; round < k_rounds && fd >= 0; ++round) {
      for (int k = 0; k <= round % 3; ++k) {
        if (::write(fd, "burst\n", 6) != 6) {
          ::_exit(3);
        }
        total += 6;
        if (round % 2 == 0) {
          ::sched_yield();
        }
      }
      while (acked < total) {
        if (::read(acks[0], &acked, sizeof acked) != sizeof acked) {
          ::_exit(4); // the watcher gave up
        }
      }
    }
    ::_exit(fd >= 0 ? 0 : 2);
  }
  ::close(acks[0]);
  std::uint64_t expected = read_to + 6 + 6 * static_cast<std::uint64_t>(k_rounds / 3 * 6);
  std::uint64_t seen = 0;
  bool stalled = false;
  while (seen < expected) {
    spool::SpoolChanges changes = next_within(watch, 10s);
    if (changes.runs.count("gap") == 0) {
      stalled = true; // ten seconds without an event while the writer waits for us
      break;
    }
    seen = size_of(run.dir, spool::Stream::out);
    if (::write(acks[1], &seen, sizeof seen) != sizeof seen) {
      break;
    }
  }
  ::close(acks[1]);
  int status = 0;
  REQUIRE(::waitpid(writer, &status, 0) == writer);
  INFO("seen " << seen << " of " << expected);
  CHECK_FALSE(stalled);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(seen == expected);
}

TEST_CASE("a SpoolWatch watches a replaced stdout and falls back to the dir while a stream "
          "cannot be watched",
          "[unit][spool_watch]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "replaced");
  spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, true);
  REQUIRE(watch.add_run("replaced"));
  std::filesystem::path out_path = run.dir.stream_path(spool::Stream::out);
  // Renamed over: the new inode is watched, the old one's watch taken off.
  test::write_whole_file(spool.scratch() / "new-stdout", "replaced\n");
  std::filesystem::rename(spool.scratch() / "new-stdout", out_path);
  REQUIRE(next_within(watch, 10s).runs.count("replaced") == 1);
  CHECK(our_mask_on(out_path) == (IN_MODIFY | IN_ONESHOT));
  append_to(run.dir, spool::Stream::out, "more\n");
  REQUIRE(next_within(watch, 10s).runs.count("replaced") == 1);
  // Removed: nothing to watch, so the dir asks for appends (a stdout created again in place
  // is then seen through it) until the file can be watched again.
  REQUIRE(std::filesystem::remove(out_path));
  REQUIRE(next_within(watch, 10s).runs.count("replaced") == 1);
  CHECK(watch.dir_watches_appends("replaced"));
  write_in_place(out_path, "created again\n", O_APPEND | O_CREAT);
  REQUIRE(next_within(watch, 10s).runs.count("replaced") == 1);
  // The next state write has the file watched again and the dir give the appends up.
  spool::RunState state = run.dir.read_state();
  state.extra["step"] = 1;
  run.dir.write_state(state);
  REQUIRE(next_within(watch, 10s).runs.count("replaced") == 1);
  CHECK(our_mask_on(out_path) == (IN_MODIFY | IN_ONESHOT));
  CHECK_FALSE(watch.dir_watches_appends("replaced"));
  CHECK((our_mask_on(run.dir.path()) & k_child_events) == 0);
}

TEST_CASE("a SpoolWatch following output out of inotify watches has the dir ask for appends and "
          "still reports them",
          "[unit][spool_watch]") {
  // As above: the limit is lowered in a user namespace of our own, in a child process. Three
  // watches: the run dir, state.json and lock; the streams' one-shots fail with ENOSPC.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "no-stream-watch");
  std::filesystem::path out_path = run.dir.stream_path(spool::Stream::out);
  int report[2];
  int go[2];
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
  pid_t watcher = ::fork();
  REQUIRE(watcher >= 0);
  if (watcher == 0) {
    // 'w': watching, the dir asks for IN_MODIFY and stdout has no watch; 'a': the append
    // was reported. Upper case: that step failed.
    auto say = [&](char c) {
      if (::write(report[1], &c, 1) != 1) {
        ::_exit(2);
      }
    };
    if (!limit_watches_in_own_user_namespace(3)) {
      say('U');
      ::_exit(1);
    }
    try {
      spool::SpoolWatch watch(spool::SpoolRoot::open(spool.root(), false), false, true);
      if (!watch.add_run("no-stream-watch")) {
        say('A');
        ::_exit(1);
      }
      bool fallback = watch.dir_watches_appends("no-stream-watch")
                      && (our_mask_on(run.dir.path()) & IN_MODIFY) != 0
                      && our_mask_on(out_path) == 0;
      say(fallback ? 'w' : 'W');
      char next = 0;
      if (::read(go[0], &next, 1) != 1) {
        ::_exit(1);
      }
      say(next_within(watch, 10s).runs.count("no-stream-watch") == 1 ? 'a' : 'A');
    } catch (const std::exception& e) {
      (void)std::fprintf(stderr, "watcher: %s\n", e.what());
      say('E');
    }
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(go[0]);
  auto hear = [&] {
    char c = 0;
    return ::read(report[0], &c, 1) == 1 ? c : '?';
  };
  CHECK(hear() == 'w');
  append_to(run.dir, spool::Stream::out, "through the dir\n");
  CHECK(::write(go[1], "g", 1) == 1);
  CHECK(hear() == 'a');
  ::close(go[1]);
  ::close(report[0]);
  int status = 0;
  REQUIRE(::waitpid(watcher, &status, 0) == watcher);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
