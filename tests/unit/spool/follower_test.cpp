// tests/unit/spool/follower_test.cpp: the Follower delivers exactly the bytes from its start
// offsets, never misses a write that races with its start, ends exactly at the recorded
// final lengths, and notices a dead supervisor at once.
#include "spool/fd.hpp"
#include "spool/follower.hpp"
#include "tests/support/pattern.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"
#include "tests/unit/spool/spool_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

using namespace chaperone;
using namespace std::chrono_literals;
using chaperone::test::TempSpool;

namespace {

// What a follower delivered, per stream.
struct Collected {
  std::string out;
  std::string err;
  std::atomic<std::uint64_t> delivered{0}; // readable while the follower runs in a thread
};

spool::RunState follow(const spool::RunDir& run, spool::FollowOptions options, Collected& got) {
  spool::CallbackSink sink([&](spool::Stream stream, std::string_view chunk) {
    (stream == spool::Stream::out ? got.out : got.err).append(chunk);
    got.delivered += chunk.size();
  });
  spool::Follower follower(run, std::move(options), sink);
  return follower.run();
}

// Appends to a stream file as the program would (O_APPEND, one write per call).
class Appender {
public:
  Appender(const spool::RunDir& run, spool::Stream stream)
      : m_fd(::open(run.stream_path(stream).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)) {
    REQUIRE(m_fd >= 0);
  }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;
  Appender(Appender&&) = delete;
  Appender& operator=(Appender&&) = delete;
  ~Appender() { ::close(m_fd); }
  // Returns false on a failed or short write (no Catch macros: used from threads).
  bool append(std::string_view data) const {
    return ::write(m_fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }

private:
  int m_fd;
};

} // namespace

TEST_CASE(
    "a follower of a finished run delivers each stream from its start offset to the recorded end",
    "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "offsets");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "0123456789");
  test::write_whole_file(run.dir.stream_path(spool::Stream::err), "abc");
  test::finish_run(run.dir);

  auto [out_offset, err_offset, out_expected, err_expected] =
      GENERATE(table<int, int, std::string, std::string>({
          {0, 0, "0123456789", "abc"},
          {4, 1, "456789", "bc"},
          {10, 3, "", ""},
          {9, 0, "9", "abc"},
      }));
  spool::FollowOptions options;
  options.stdout_offset = static_cast<std::uint64_t>(out_offset);
  options.stderr_offset = static_cast<std::uint64_t>(err_offset);
  Collected got;
  spool::CallbackSink sink([&](spool::Stream stream, std::string_view chunk) {
    (stream == spool::Stream::out ? got.out : got.err).append(chunk);
  });
  spool::Follower follower(run.dir, options, sink);
  spool::RunState state = follower.run();
  CHECK(state.state == spool::RunStatus::exited);
  CHECK(got.out == out_expected);
  CHECK(got.err == err_expected);
  CHECK(follower.offset(spool::Stream::out) == 10);
  CHECK(follower.offset(spool::Stream::err) == 3);
}

TEST_CASE("a follower that wants one stream never reads the other", "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "one-stream");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "out");
  test::write_whole_file(run.dir.stream_path(spool::Stream::err), "err");
  test::finish_run(run.dir);
  spool::FollowOptions options;
  options.want_stdout = false;
  Collected got;
  follow(run.dir, options, got);
  CHECK(got.out.empty());
  CHECK(got.err == "err");
}

TEST_CASE("a follower without follow delivers what is there now and returns", "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "snapshot");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "so far");
  spool::FollowOptions options;
  options.follow = false;
  Collected got;
  spool::RunState state = follow(run.dir, options, got);
  CHECK(state.state == spool::RunStatus::running);
  CHECK(got.out == "so far");
}

TEST_CASE("a follower stops exactly at the recorded final lengths", "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "recorded");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "0123456789");
  spool::RunState state = run.dir.read_state();
  state.state = spool::RunStatus::exited;
  state.exit_code = 0;
  state.stdout_bytes = 6; // the contract: the final state's lengths, not the files' sizes
  run.dir.write_state(state);
  Collected got;
  follow(run.dir, {}, got);
  CHECK(got.out == "012345");
}

TEST_CASE("a follower throws rather than deliver fewer bytes than recorded", "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "truncated");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "0123");
  spool::RunState state = run.dir.read_state();
  state.state = spool::RunStatus::exited;
  state.stdout_bytes = 10;
  run.dir.write_state(state);
  Collected got;
  CHECK_THROWS_AS(follow(run.dir, {}, got), std::system_error);
}

TEST_CASE("a follower waiting on a quiet run returns as soon as the final state appears",
          "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "quiet");
  Appender out(run.dir, spool::Stream::out);
  REQUIRE(out.append("before\n"));
  Collected got;
  std::atomic<bool> returned{false};
  std::promise<spool::RunState> result;
  std::thread follower_thread([&] {
    try {
      result.set_value(follow(run.dir, {}, got));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
    returned = true;
  });
  // It is following: output written now still reaches it.
  REQUIRE(out.append("during\n"));
  test::wait_until(test::deadline_in(10s), "the follower to deliver both lines", [&] {
    return returned || got.delivered.load() >= 14;
  });
  CHECK_FALSE(returned.load());
  test::finish_run(run.dir);
  std::future<spool::RunState> done = result.get_future();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  follower_thread.join();
  CHECK(done.get().state == spool::RunStatus::exited);
  CHECK(got.out == "before\nduring\n");
}

TEST_CASE("followers started while the program writes get every byte from their start, no gaps or "
          "duplicates",
          "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "race");
  constexpr int k_records = 40000;
  constexpr int k_followers = 16;
  // Records of varied sizes, each one write(2), each naming its number and ending in '\n'.
  std::mt19937 random(std::random_device{}());
  std::vector<std::string> records;
  for (int i = 0; i < k_records; ++i) {
    std::string record = std::to_string(i) + ":"
                         + std::string(random() % 200, static_cast<char>('a' + i % 26)) + "\n";
    records.push_back(std::move(record));
  }
  std::vector<int> start_after; // each follower starts once this many records are written
  for (int f = 0; f < k_followers; ++f) {
    start_after.push_back(static_cast<int>(random() % (k_records * 3 / 4)));
  }

  std::atomic<int> written{0};
  std::atomic<bool> write_failed{false};
  struct Outcome {
    std::uint64_t start = 0;
    std::string bytes;
    std::string error;
    bool final_seen = false;
  };
  std::vector<Outcome> outcomes(k_followers);
  std::vector<std::thread> followers;
  for (int f = 0; f < k_followers; ++f) {
    followers.emplace_back([&, f] {
      Outcome& outcome = outcomes[f];
      while (written.load() < start_after[f]) {
        std::this_thread::yield(); // start at a random moment of the writing
      }
      try {
        // Start at the current end, as `attach --from-offset $(size)` would.
        outcome.start = std::filesystem::file_size(run.dir.stream_path(spool::Stream::out));
        spool::FollowOptions options;
        options.stdout_offset = outcome.start;
        Collected got;
        spool::RunState state = follow(run.dir, options, got);
        outcome.bytes = std::move(got.out);
        outcome.final_seen = state.state == spool::RunStatus::exited;
      } catch (const std::exception& e) {
        outcome.error = e.what();
      }
    });
  }
  std::thread writer([&] {
    Appender out(run.dir, spool::Stream::out);
    for (const std::string& record : records) {
      if (!out.append(record)) {
        write_failed = true;
      }
      written.fetch_add(1);
    }
  });
  writer.join();
  test::finish_run(run.dir);
  for (std::thread& t : followers) {
    t.join();
  }
  REQUIRE_FALSE(write_failed.load());
  std::string all = spool.output("race", "stdout");
  std::string expected_all;
  for (const std::string& record : records) {
    expected_all += record;
  }
  REQUIRE(all == expected_all);
  for (int f = 0; f < k_followers; ++f) {
    const Outcome& outcome = outcomes[f];
    INFO("follower " << f << " started at byte " << outcome.start << " after record "
                     << start_after[f]);
    CHECK(outcome.error.empty());
    CHECK(outcome.final_seen);
    CHECK(outcome.start <= all.size());
    CHECK(outcome.bytes.size() == all.size() - outcome.start);
    CHECK(outcome.bytes == all.substr(outcome.start));
  }
}

TEST_CASE("a follower notices at once when the supervisor holding the lock dies, and reports lost",
          "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "dies");
  test::write_whole_file(run.dir.stream_path(spool::Stream::out), "partial");
  // A real process takes over the lock as the supervisor would, then waits to be killed.
  std::string lock_path = run.dir.file("lock").string();
  run.lock.reset();
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

  std::promise<spool::RunState> result;
  Collected got;
  std::thread follower_thread([&] {
    try {
      result.set_value(follow(run.dir, {}, got));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  std::future<spool::RunState> done = result.get_future();
  CHECK(done.wait_for(100ms) == std::future_status::timeout); // alive: still following
  auto killed_at = test::Clock::now();
  ::kill(child, SIGKILL);
  // Not reaped yet: a zombie must count as dead (its lock is already free).
  bool ready_in_time = done.wait_for(5s) == std::future_status::ready;
  auto noticed_after = test::Clock::now() - killed_at;
  ::waitpid(child, nullptr, 0);
  REQUIRE(ready_in_time);
  follower_thread.join();
  spool::RunState final_state = done.get();
  CHECK(final_state.state == spool::RunStatus::lost);
  CHECK(final_state.cli_exit_code() == 125);
  CHECK(got.out == "partial");
  // The pidfd wakes the follower; no polling interval is waited out.
  CHECK(noticed_after < 1s);
  CHECK(spool.state("dies")["state"] == "lost");
}

TEST_CASE("a follower of a run whose supervisor died before starting it reports lost",
          "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "never");
  spool::RunState state = run.dir.read_state();
  state.state = spool::RunStatus::starting;
  state.supervisor_pid.reset();
  state.supervisor_start_ticks.reset();
  run.dir.write_state(state);
  run.lock.reset();
  Collected got;
  spool::RunState final_state = follow(run.dir, {}, got);
  CHECK(final_state.state == spool::RunStatus::lost);
  CHECK(final_state.error.has_value());
}

TEST_CASE("Follower::stop from a signal callback ends run() early", "[unit][follower]") {
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "stopped");
  spool::Follower* self = nullptr;
  int seen = 0;
  spool::FollowOptions options;
  options.signals = {SIGUSR1};
  options.on_signal = [&](int signum) {
    seen = signum;
    self->stop();
  };
  spool::CallbackSink sink([](spool::Stream, std::string_view) {});
  spool::Follower follower(run.dir, options, sink);
  self = &follower;
  std::promise<spool::RunState> result;
  // Until libuv installs its handler, a no-op one keeps a stray SIGUSR1 from killing the
  // test; once the handler is libuv's, send exactly one signal (libuv restores SIG_DFL when
  // the follower closes, so a second one could kill us).
  struct sigaction ignore_early {};
  ignore_early.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &ignore_early, nullptr);
  std::thread t([&] { result.set_value(follower.run()); });
  std::future<spool::RunState> done = result.get_future();
  REQUIRE(
      test::wait_until(test::deadline_in(10s), "the follower to install its SIGUSR1 handler", [&] {
        struct sigaction current {};
        ::sigaction(SIGUSR1, nullptr, &current);
        return current.sa_handler != ignore_early.sa_handler;
      }));
  ::kill(::getpid(), SIGUSR1);
  CHECK(done.wait_for(10s) == std::future_status::ready);
  t.join();
  ::signal(SIGUSR1, SIG_DFL);
  CHECK(seen == SIGUSR1);
  CHECK(done.get().state == spool::RunStatus::running);
}

TEST_CASE("a follower that delivers no output is not woken by appends", "[unit][follower]") {
  // `kill`, `agent` and other state-only followers watch the run dir without IN_MODIFY: a
  // program writing lines must not cost them a wakeup per write (uv_fs_event always asked
  // for it). Each wakeup is a voluntary context switch of the follower's thread.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "chatty");
  Appender out(run.dir, spool::Stream::out);
  std::atomic<bool> watching{false};
  std::atomic<long> switches{-1};
  std::promise<spool::RunState> result;
  std::thread follower_thread([&] {
    try {
      spool::FollowOptions options;
      options.want_stdout = options.want_stderr = false;
      options.on_state = [&](const spool::RunState&) { watching = true; };
      Collected got;
      rusage before{};
      ::getrusage(RUSAGE_THREAD, &before);
      spool::RunState state = follow(run.dir, std::move(options), got);
      rusage after{};
      ::getrusage(RUSAGE_THREAD, &after);
      switches = after.ru_nvcsw - before.ru_nvcsw;
      result.set_value(state);
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  // The first state read comes after the watch is in place (subscribe, then read).
  test::wait_until(
      test::deadline_in(10s), "the follower to read the state", [&] { return watching.load(); });
  constexpr int k_appends = 5000;
  for (int i = 0; i < k_appends; ++i) {
    REQUIRE(out.append("a line of output, one write each\n"));
  }
  test::finish_run(run.dir);
  std::future<spool::RunState> done = result.get_future();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  follower_thread.join();
  CHECK(done.get().state == spool::RunStatus::exited);
  INFO("voluntary context switches of the follower while " << k_appends << " appends ran");
  // A few for the final state's events; one per append (thousands) before.
  CHECK(switches.load() >= 0);
  CHECK(switches.load() < 50);
}

TEST_CASE("a follower delivers a burst of appends made between two wakeups in one read each",
          "[unit][follower]") {
  // The events of a burst are read together and each stream is read once to its size: the
  // sink sees one chunk for the burst, not one per append.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "burst");
  Appender out(run.dir, spool::Stream::out);
  std::mutex gate;
  std::unique_lock<std::mutex> hold(gate); // the first chunk's delivery waits for us
  std::atomic<int> chunks{0};
  std::string got;
  std::promise<spool::RunState> result;
  std::thread follower_thread([&] {
    try {
      spool::CallbackSink sink([&](spool::Stream, std::string_view chunk) {
        if (chunks++ == 0) {
          std::lock_guard<std::mutex> wait_for_burst(gate);
        }
        got.append(chunk);
      });
      spool::Follower follower(run.dir, {}, sink);
      result.set_value(follower.run());
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  REQUIRE(out.append("first\n"));
  test::wait_until(test::deadline_in(10s), "the first chunk", [&] { return chunks.load() > 0; });
  // The follower is inside its first delivery: these 1000 appends queue up meanwhile.
  std::string burst;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(out.append("burst line\n"));
    burst += "burst line\n";
  }
  hold.unlock();
  test::wait_until(test::deadline_in(10s), "the burst", [&] { return chunks.load() >= 2; });
  test::finish_run(run.dir);
  std::future<spool::RunState> done = result.get_future();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  follower_thread.join();
  CHECK(got == "first\n" + burst);
  CHECK(chunks.load() == 2);
}

namespace {

// Whether inotify instance `fd` has a watch asking for IN_MODIFY on inode `inode` now
// (/proc/self/fdinfo lists each watch with its inode in hex). No Catch macros: threads call it.
bool armed_for_appends(int fd, ino_t inode) {
  std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(info, line)) {
    std::size_t ino = line.find(" ino:");
    std::size_t mask = line.find(" mask:");
    if (line.rfind("inotify wd:", 0) != 0 || ino == std::string::npos
        || mask == std::string::npos) {
      continue;
    }
    if (std::stoul(line.substr(ino + 5), nullptr, 16) == inode
        && (std::stoul(line.substr(mask + 6), nullptr, 16) & IN_MODIFY) != 0) {
      return true;
    }
  }
  return false;
}

// Hands each chunk to a function, like CallbackSink, and calls `at_caught_up` whenever a
// follower's look for new bytes finds none: the moment between its last look and re-arming
// its watch, where an append raises no event. The test appends there.
class EdgeSink final : public spool::OutputSink {
public:
  using Chunk = std::function<void(spool::Stream, std::string_view)>;
  EdgeSink(Chunk on_chunk, std::function<void()> at_caught_up)
      : m_on_chunk(std::move(on_chunk)), m_at_caught_up(std::move(at_caught_up)) {}
  void copy(spool::Stream stream, int fd, std::uint64_t offset, std::uint64_t length) override {
    std::string buffer(length, '\0');
    ssize_t n = ::pread(fd, buffer.data(), length, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(length)) {
      throw std::runtime_error("short pread in EdgeSink");
    }
    m_on_chunk(stream, buffer);
  }
  std::uint64_t
  copy_available(spool::Stream stream, int fd, std::uint64_t offset, std::uint64_t limit) override {
    std::uint64_t n = OutputSink::copy_available(stream, fd, offset, limit);
    if (n == 0) {
      m_at_caught_up();
    }
    return n;
  }

private:
  Chunk m_on_chunk;
  std::function<void()> m_at_caught_up;
};

} // namespace

TEST_CASE("a follower whose append watch is one-shot misses no append that lands as it catches up",
          "[unit][follower]") {
  // The follower's IN_MODIFY watch on a stream file is one-shot: the first append after it is
  // armed fires it and the appends after that raise no event while the follower delivers in
  // steps; once a step finds nothing it re-arms and looks once more. Rounds of bursts, each
  // ending with the writer idle until everything arrived: an append that raised no event and
  // that the look after re-arming missed would never be delivered, and its round would time
  // out. Every other round also appends from inside a delivery (while the watch is off), and
  // every third one right when a look has found nothing new, before the watch is re-armed
  // (that sink's copy_available calls back there). Through such a sink (both streams) and
  // through FdSink's sendfile into a one-page pipe (the one a terminal or `| cat` gets).
  const std::string sink_kind = GENERATE(as<std::string>(), "callback", "pipe");
  const bool via_pipe = sink_kind == "pipe";
  INFO("sink: " << sink_kind);
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "catch-up");
  Appender out(run.dir, spool::Stream::out);
  Appender err(run.dir, spool::Stream::err);
  spool::Fd inotify{::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)};
  REQUIRE(inotify.valid());
  struct stat stdout_stat {};
  REQUIRE(::stat(run.dir.stream_path(spool::Stream::out).c_str(), &stdout_stat) == 0);
  const ino_t stdout_inode = stdout_stat.st_ino;

  std::atomic<std::uint64_t> written{0}; // bytes appended to both streams
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<int> inject{0};   // appends still to make from inside deliveries
  std::atomic<int> at_edge{0};  // appends still to make when a look finds nothing new
  std::atomic<int> seen_off{0}; // deliveries made while no watch asked for stdout's appends
  std::atomic<bool> inject_failed{false};
  std::string got[2];
  // Runs in the thread that receives the bytes, once per chunk.
  auto on_chunk = [&](spool::Stream stream, std::string_view chunk) {
    if (!armed_for_appends(inotify.get(), stdout_inode)) {
      ++seen_off;
    }
    got[stream == spool::Stream::out ? 0 : 1].append(chunk);
    if (inject.load() > 0) {
      --inject;
      std::string record = "appended during a delivery\n";
      if (!out.append(record)) {
        inject_failed = true;
      }
      written += record.size(); // before `delivered` grows: the writer's wait stays honest
    }
    delivered += chunk.size();
  };

  spool::FollowOptions options;
  options.inotify_fd = inotify.get();
  options.want_stderr = !via_pipe;
  int pipe_fds[2] = {-1, -1};
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  spool::Fd pipe_read{pipe_fds[0]};
  spool::Fd pipe_write{pipe_fds[1]};
  // One page: sendfile blocks on a full pipe while the writer goes on.
  REQUIRE(::fcntl(pipe_write.get(), F_SETPIPE_SZ, 4096) >= 0);
  std::thread reader;
  if (via_pipe) {
    reader = std::thread([&] {
      char buffer[4096];
      ssize_t n = 0;
      while ((n = ::read(pipe_read.get(), buffer, sizeof buffer)) > 0) {
        on_chunk(spool::Stream::out, std::string_view(buffer, static_cast<std::size_t>(n)));
      }
    });
  }
  std::promise<spool::RunState> result;
  std::thread follower_thread([&] {
    try {
      EdgeSink callback_sink(on_chunk, [&] {
        if (at_edge.load() > 0) {
          --at_edge;
          std::string record = "appended as the follower caught up\n";
          if (!out.append(record)) {
            inject_failed = true;
          }
          written += record.size();
        }
      });
      spool::FdSink pipe_sink(pipe_write.get(), -1);
      spool::Follower follower(run.dir,
                               options,
                               via_pipe ? static_cast<spool::OutputSink&>(pipe_sink)
                                        : static_cast<spool::OutputSink&>(callback_sink));
      result.set_value(follower.run());
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });

  std::mt19937 random(std::random_device{}());
  constexpr int k_rounds = 300;
  bool appends_ok = true;
  // No REQUIRE until the threads are joined: a failed round ends the loop, the final state
  // then ends the follower.
  for (int round = 0; round < k_rounds && appends_ok; ++round) {
    if (round % 2 == 1) {
      inject = 1 + static_cast<int>(random() % 8);
    }
    if (round % 3 == 2) {
      at_edge = 1 + static_cast<int>(random() % 3);
    }
    auto records = 1 + random() % 40;
    for (unsigned i = 0; i < records && appends_ok; ++i) {
      std::string record = std::to_string(round) + "." + std::to_string(i) + ":"
                           + std::string(random() % 300, static_cast<char>('a' + i % 26)) + "\n";
      bool to_err = !via_pipe && random() % 4 == 0;
      appends_ok = (to_err ? err : out).append(record);
      written += record.size();
      for (auto spin = random() % 4; spin > 0; --spin) {
        std::this_thread::yield();
      }
    }
    INFO("round " << round);
    if (!test::wait_until(test::deadline_in(10s), "every byte of the round delivered", [&] {
          return delivered.load() == written.load();
        })) {
      break;
    }
  }
  test::finish_run(run.dir);
  std::future<spool::RunState> done = result.get_future();
  bool returned = done.wait_for(20s) == std::future_status::ready;
  if (returned) {
    follower_thread.join();
  } else {
    follower_thread.detach(); // reported below; the process ends with the test run
  }
  pipe_write.reset(); // the reader sees EOF
  if (reader.joinable()) {
    reader.join();
  }
  CHECK(appends_ok);
  REQUIRE(returned);
  CHECK(done.get().state == spool::RunStatus::exited);
  CHECK_FALSE(inject_failed.load());
  CHECK(got[0] == spool.output("catch-up", "stdout"));
  CHECK(got[1] == (via_pipe ? std::string() : spool.output("catch-up", "stderr")));
  CHECK(delivered.load() == written.load());
  INFO("deliveries made with no watch on stdout's appends: " << seen_off.load());
  CHECK(seen_off.load() > 0); // the one-shot fired and the steps ran without it
}

namespace {

// Writes TEXT into the run's state.json in place: open, truncate, write, close (one inode
// throughout, no rename).
void write_state_in_place(const spool::RunDir& run, const std::string& text) {
  std::filesystem::path path = run.file(spool::k_state_file);
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// A run with "before\n" in its stdout, a follower of it on a thread of its own that has
// delivered that line, and the final state a writer in place would give it.
class FollowedInPlace {
public:
  FollowedInPlace(const TempSpool& spool, const std::string& name)
      : m_run(test::make_run(spool, name)) {
    Appender out(m_run.dir, spool::Stream::out);
    REQUIRE(out.append("before\n"));
    final_state = m_run.dir.read_state();
    final_state.state = spool::RunStatus::exited;
    final_state.exit_code = 0;
    final_state.return_code = 0;
    final_state.stdout_bytes = 7;
    m_thread = std::thread([this] {
      try {
        m_result.set_value(follow(m_run.dir, {}, got));
      } catch (...) {
        m_result.set_exception(std::current_exception());
      }
    });
    REQUIRE(test::wait_until(test::deadline_in(10s), "the follower to deliver the first line", [&] {
      return got.delivered.load() == 7;
    }));
  }
  FollowedInPlace(const FollowedInPlace&) = delete;
  FollowedInPlace& operator=(const FollowedInPlace&) = delete;
  FollowedInPlace(FollowedInPlace&&) = delete;
  FollowedInPlace& operator=(FollowedInPlace&&) = delete;
  ~FollowedInPlace() {
    if (m_thread.joinable()) {
      test::finish_run(m_run.dir); // renamed into place: ends the follower either way
      m_thread.join();
    }
  }

  const spool::RunDir& dir() const { return m_run.dir; }

  // Waits up to 10 s for the follower to return; REQUIREs that it did.
  std::future<spool::RunState> finish() {
    bool returned = m_done.wait_for(10s) == std::future_status::ready;
    if (!returned) {
      test::finish_run(m_run.dir);
    }
    m_thread.join();
    REQUIRE(returned);
    return std::move(m_done);
  }

  spool::RunState final_state;
  Collected got;

private:
  test::FixtureRun m_run;
  std::promise<spool::RunState> m_result;
  std::future<spool::RunState> m_done = m_result.get_future();
  std::thread m_thread;
};

} // namespace

TEST_CASE("a follower sees a final state.json written in place", "[unit][follower]") {
  // chaperone renames each state into place, but the spool is an open format: a state.json
  // written in place is seen through an IN_CLOSE_WRITE watch on the file itself (the run dir
  // asks only for its own events, so that an append to stdout does not walk to the dir).
  TempSpool spool;
  FollowedInPlace followed(spool, "in-place");
  write_state_in_place(followed.dir(), followed.final_state.to_json().dump());
  CHECK(followed.finish().get().state == spool::RunStatus::exited);
  CHECK(followed.got.out == "before\n");
}

TEST_CASE("a follower takes a state.json caught mid-write in place for not yet, and reads the "
          "finished one",
          "[unit][follower]") {
  TempSpool spool;
  FollowedInPlace followed(spool, "half-written");
  // A writer that closed the file after its truncation and before its write: the close is
  // an event the follower reads the empty file on.
  write_state_in_place(followed.dir(), "");
  std::this_thread::sleep_for(50ms);
  write_state_in_place(followed.dir(), followed.final_state.to_json().dump());
  CHECK(followed.finish().get().state == spool::RunStatus::exited);
  CHECK(followed.got.out == "before\n");
}

TEST_CASE("a follower reports a state.json that stays damaged, after a second",
          "[unit][follower]") {
  TempSpool spool;
  FollowedInPlace followed(spool, "stays-damaged");
  auto damaged_at = std::chrono::steady_clock::now();
  write_state_in_place(followed.dir(), "{\"state\": ");
  std::future<spool::RunState> done = followed.finish();
  CHECK(std::chrono::steady_clock::now() - damaged_at >= 900ms);
  try {
    (void)done.get();
    FAIL("the follower returned a state from a damaged state.json");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("damaged") != std::string::npos);
  }
}

TEST_CASE("a follower of a program writing small lines at full speed wakes about once a "
          "millisecond, not every few lines",
          "[unit][follower]") {
  // Each look that finds only a few lines makes the next one wait (catch_up), with no watch
  // armed meanwhile: a wakeup per few lines cost the writer an inotify event each and, on a
  // shared CPU, a context switch of the follower and of the pipe's reader. Each wakeup is a
  // voluntary context switch of the follower's thread; the bound allows three a millisecond,
  // so load, which only stretches the time, cannot break it.
  TempSpool spool;
  test::FixtureRun run = test::make_run(spool, "lines");
  Appender out(run.dir, spool::Stream::out);
  std::atomic<bool> started{false};
  std::atomic<long> switches{-1};
  std::atomic<long> elapsed_ms{-1};
  Collected got;
  std::promise<spool::RunState> result;
  std::thread follower_thread([&] {
    try {
      spool::FollowOptions options;
      options.on_state = [&](const spool::RunState&) { started = true; };
      rusage before{};
      ::getrusage(RUSAGE_THREAD, &before);
      auto t0 = std::chrono::steady_clock::now();
      spool::RunState state = follow(run.dir, std::move(options), got);
      elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
      rusage after{};
      ::getrusage(RUSAGE_THREAD, &after);
      switches = after.ru_nvcsw - before.ru_nvcsw;
      result.set_value(state);
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  test::wait_until(
      test::deadline_in(10s), "the follower to read the state", [&] { return started.load(); });
  constexpr int k_lines = 20000;
  const std::string line(99, 'x');
  for (int i = 0; i < k_lines; ++i) {
    REQUIRE(out.append(line + "\n"));
  }
  test::finish_run(run.dir);
  std::future<spool::RunState> done = result.get_future();
  REQUIRE(done.wait_for(20s) == std::future_status::ready);
  follower_thread.join();
  CHECK(done.get().state == spool::RunStatus::exited);
  CHECK(got.out == spool.output("lines", "stdout"));
  CHECK(got.out.size() == std::size_t{k_lines} * 100);
  INFO("voluntary context switches of the follower: " << switches.load() << " in "
                                                      << elapsed_ms.load() << " ms");
  CHECK(switches.load() >= 0);
  CHECK(switches.load() <= 3 * elapsed_ms.load() + 50);
}
