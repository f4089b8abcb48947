// tests/integration/follow_test.cpp: coming back to a run: --detach, attach (offsets, tail),
// tail, wait, status and ls, and a front end that goes away mid-run.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

using namespace chaperone::test;

namespace {

// A detached run of `test_writer gated`: writes stream `seed` until scratch/gate exists.
struct GatedRun {
  std::string id;
  std::filesystem::path gate;
};

GatedRun
start_gated(const TempSpool& spool, std::uint64_t seed, int code, const std::string& name) {
  std::filesystem::path gate = spool.scratch() / ("gate-" + name);
  std::string id =
      start_detached(spool,
                     {writer(), "gated", std::to_string(seed), gate.string(), std::to_string(code)},
                     {"--name", name});
  return {id, gate};
}

} // namespace

TEST_CASE("run --detach prints the id at once and attach then streams the whole output",
          "[integration][follow]") {
  TempSpool spool;
  GatedRun run = start_gated(spool, 7, 3, "detached");
  CHECK(spool.run_ids() == std::vector<std::string>{"detached"});
  CHECK_FALSE(is_final_state(spool.state(run.id)["state"]));
  // Let it write a while, then end it; attach gets everything from byte 0 and the code.
  REQUIRE(wait_until(deadline_in(20s), "output to grow", [&] {
    return spool.output_size(run.id, "stdout") >= 64 * 1024;
  }));
  write_whole_file(run.gate, "");
  RunResult r = run_chaperone(spool, {"attach", run.id});
  CHECK(r.exit_code == 3);
  CHECK(r.err.empty());
  CHECK(r.out.size() == spool.output_size(run.id, "stdout"));
  CHECK(r.out == pattern_bytes(7, 0, r.out.size()));
  CHECK(spool.state(run.id)["output"]["stdout"] == r.out.size());
}

TEST_CASE("run --detach returns even when its caller reads stdout to EOF",
          "[integration][follow]") {
  // As in ID=$(chaperone run -d ...): the supervisor must not hold the caller's pipe.
  TempSpool spool;
  RunOptions options;
  options.deadline = 10s;
  RunResult r = run_chaperone(spool, {"run", "-d", "--", "sleep", "1000"}, options);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.deadline_missed);
  std::string id = spool.only_run_id();
  CHECK(r.out == id + "\n");
  RunResult k = run_chaperone(spool, {"kill", "-s", "KILL", id});
  INFO("kill stderr: " << k.err);
  CHECK(k.exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", id}, within(20s)).exit_code == 137);
}

TEST_CASE("attach --from-offset OUT:ERR and --stdout-offset/--stderr-offset start at those bytes",
          "[integration][follow]") {
  TempSpool spool;
  RunResult first =
      run_chaperone(spool, {"run", "--", writer(), "both", "11", "100000", "12", "50000"});
  REQUIRE(first.exit_code == 0);
  std::string id = spool.only_run_id();

  // A cursor names both offsets; one number for both streams is refused (issue 9: it
  // silently skipped stderr bytes the user never asked to skip).
  RunResult from = run_chaperone(spool, {"attach", "--from-offset", "40000:40000", id});
  CHECK(from.exit_code == 0);
  CHECK(from.out == pattern_bytes(11, 40000, 60000));
  CHECK(from.err == pattern_bytes(12, 40000, 10000));

  RunResult split =
      run_chaperone(spool, {"attach", "--stdout-offset", "99999", "--stderr-offset", "1", id});
  CHECK(split.exit_code == 0);
  CHECK(split.out == pattern_bytes(11, 99999, 1));
  CHECK(split.err == pattern_bytes(12, 1, 49999));

  RunResult end = run_chaperone(spool, {"attach", "--from-offset", "100000:50000", id});
  CHECK(end.exit_code == 0);
  CHECK(end.out.empty());
  CHECK(end.err.empty());
}

TEST_CASE("attach --tail N starts each stream N lines before its end", "[integration][follow]") {
  TempSpool spool;
  RunResult first =
      run_chaperone(spool, {"run", "--", "sh", "-c", "seq 1 100; seq 1 20 >&2; exit 4"});
  REQUIRE(first.exit_code == 4);
  std::string id = spool.only_run_id();
  RunResult r = run_chaperone(spool, {"attach", "--tail", "3", id});
  CHECK(r.exit_code == 4);
  CHECK(r.out == "98\n99\n100\n");
  CHECK(r.err == "18\n19\n20\n");
}

TEST_CASE("tail -n N prints the last N lines of the chosen stream", "[integration][follow]") {
  TempSpool spool;
  RunResult first =
      run_chaperone(spool, {"run", "--", "sh", "-c", "seq 1 100; printf 'e1\\ne2\\ne3' >&2"});
  REQUIRE(first.exit_code == 0);
  std::string id = spool.only_run_id();
  CHECK(run_chaperone(spool, {"tail", "-n", "2", id}).out == "99\n100\n");
  CHECK(run_chaperone(spool, {"tail", id}).out == "91\n92\n93\n94\n95\n96\n97\n98\n99\n100\n");
  CHECK(run_chaperone(spool, {"tail", "-n", "0", id}).out.empty());
  CHECK(run_chaperone(spool, {"tail", "-n", "1000", id}).out == first.out);
  // A last line without a newline counts as a line.
  RunResult err = run_chaperone(spool, {"tail", "-n", "2", "--stream", "stderr", id});
  CHECK(err.exit_code == 0);
  CHECK(err.out == "e2\ne3");
}

TEST_CASE("tail -f follows a running run to its end and then exits 0", "[integration][follow]") {
  TempSpool spool;
  GatedRun run = start_gated(spool, 21, 0, "followed");
  ChaperoneProcess tail(spool, {"tail", "-f", "-n", "0", run.id});
  // tail -f prints only what comes after it started, up to the end.
  REQUIRE(tail.read_until(
      deadline_in(20s), "tail -f output", [&] { return tail.out().size() >= 16384; }));
  write_whole_file(run.gate, "");
  RunResult r = tail.finish();
  CHECK(r.exit_code == 0);
  std::uint64_t total = spool.output_size(run.id, "stdout");
  REQUIRE(r.out.size() <= total);
  std::uint64_t start = total - r.out.size();
  CHECK(r.out == pattern_bytes(21, start, r.out.size()));
}

TEST_CASE("wait with several ids waits for all and exits with the first non-zero code",
          "[integration][follow]") {
  TempSpool spool;
  GatedRun a = start_gated(spool, 31, 0, "wait-a");
  GatedRun b = start_gated(spool, 32, 5, "wait-b");
  GatedRun c = start_gated(spool, 33, 6, "wait-c");
  ChaperoneProcess waiter(spool, {"wait", a.id, b.id, c.id});
  // Nothing is final yet, so wait must still be waiting after the first two end.
  write_whole_file(a.gate, "");
  write_whole_file(c.gate, "");
  REQUIRE(wait_for_state(spool, c.id, {"exited"}));
  REQUIRE(wait_for_state(spool, a.id, {"exited"}));
  CHECK(process_running(waiter.pid()));
  write_whole_file(b.gate, "");
  RunResult r = waiter.finish();
  CHECK(r.exit_code == 5);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  CHECK(run_chaperone(spool, {"wait", a.id}).exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", c.id, a.id}).exit_code == 6);
}

TEST_CASE("status --json and ls --json print JSON that outside tools can parse",
          "[integration][follow]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "older", "--", "sh", "-c", "exit 2"}).exit_code
          == 2);
  GatedRun newer = start_gated(spool, 41, 0, "newer");
  REQUIRE(wait_for_state(spool, newer.id, {"running"}));

  RunResult status = run_chaperone(spool, {"status", "--json", "older"});
  REQUIRE(status.exit_code == 0);
  nlohmann::json st = nlohmann::json::parse(status.out);
  CHECK(st["run_id"] == "older");
  CHECK(st["state"] == "exited");
  CHECK(st["exit_code"] == 2);
  // state.json as it is, plus the run's directory (issue 14) and the cursor where the
  // output ends (issue 9).
  CHECK(st["run_dir"] == spool.run_dir("older").string());
  CHECK(st["cursor"] == "0:0");
  st.erase("run_dir");
  st.erase("cursor");
  CHECK(st == spool.state("older"));

  RunResult ls = run_chaperone(spool, {"ls", "--json"});
  REQUIRE(ls.exit_code == 0);
  nlohmann::json list = nlohmann::json::parse(ls.out);
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 2);
  CHECK(list[0]["run_id"] == "newer"); // newest first
  CHECK(list[0]["state"] == "running");
  CHECK(list[1]["run_id"] == "older");

  RunResult text = run_chaperone(spool, {"ls"});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("older") != std::string::npos);
  CHECK(text.out.find("newer") < text.out.find("older"));
  RunResult plain = run_chaperone(spool, {"status", "older"});
  CHECK(plain.exit_code == 0);
  CHECK(plain.out.find("exited") != std::string::npos);

  write_whole_file(newer.gate, "");
  CHECK(run_chaperone(spool, {"wait", "newer"}).exit_code == 0);
}

TEST_CASE("ls --json on an empty or missing spool prints an empty array", "[integration][follow]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"ls", "--json"});
  CHECK(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out) == nlohmann::json::array());
  RunOptions missing;
  missing.spool_value = (spool.scratch() / "not-yet").string();
  RunResult m = run_chaperone(spool, {"ls", "--json"}, missing);
  CHECK(m.exit_code == 0);
  CHECK(nlohmann::json::parse(m.out) == nlohmann::json::array());
  CHECK_FALSE(std::filesystem::exists(spool.scratch() / "not-yet"));
}

TEST_CASE(
    "an attached front end killed mid-run leaves the run going, and attach then gets every byte",
    "[integration][follow]") {
  int signum = GENERATE(SIGKILL, SIGHUP);
  INFO("front end signal " << signum);
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  ChaperoneProcess front(
      spool, {"run", "--name", "survivor", "--", writer(), "gated", "51", gate.string(), "9"});
  REQUIRE(front.read_until(
      deadline_in(20s), "the attached output", [&] { return front.out().size() >= 32768; }));
  front.send_signal(signum);
  RunResult gone = front.finish();
  // SIGHUP only detaches: the front end exits 129 by itself. SIGKILL just kills it.
  CHECK(gone.exit_code == 128 + signum);
  if (signum == SIGHUP) {
    CHECK_FALSE(gone.signal.has_value());
  }
  CHECK(gone.out == pattern_bytes(51, 0, gone.out.size()));
  // The program keeps writing with nobody attached.
  std::uint64_t at_detach = spool.output_size("survivor", "stdout");
  REQUIRE(wait_until(deadline_in(20s), "the program to keep writing", [&] {
    return spool.output_size("survivor", "stdout") > at_detach + 16384;
  }));
  CHECK_FALSE(is_final_state(spool.state("survivor")["state"]));
  ChaperoneProcess again(spool, {"attach", "survivor"});
  REQUIRE(again.read_until(
      deadline_in(20s), "attach to catch up", [&] { return again.out().size() > at_detach; }));
  write_whole_file(gate, "");
  RunResult r = again.finish();
  CHECK(r.exit_code == 9);
  std::uint64_t total = spool.output_size("survivor", "stdout");
  CHECK(r.out.size() == total);
  CHECK(r.out == pattern_bytes(51, 0, total));
  CHECK(spool.state("survivor")["output"]["stdout"] == total);
}

TEST_CASE("a front end whose stdout reader goes away detaches with 141 and the run goes on",
          "[integration][follow]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  // As in `chaperone run ... | head -c 1000`: once head has gone, the front end's write fails
  // with EPIPE; it must detach (141) and leave the run alone.
  RunOptions options;
  options.wrapper = {
      "bash", "-c", "\"$@\" | head -c 1000 > /dev/null; echo \"${PIPESTATUS[0]}\"", "bash"};
  RunResult r =
      run_chaperone(spool,
                    {"run", "--name", "piped", "--", writer(), "gated", "61", gate.string(), "0"},
                    options);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "141\n");
  // Not final (it may still read `starting`: the program can write before the supervisor
  // has recorded `running`).
  CHECK_FALSE(is_final_state(spool.state("piped")["state"]));
  write_whole_file(gate, "");
  CHECK(run_chaperone(spool, {"wait", "piped"}).exit_code == 0);
}

TEST_CASE("ls lists a run that has not started its program yet first, as the newest",
          "[integration][follow][regression]") {
  // ls sorted by start_time alone, so a `starting` run (no start time yet: the moment right
  // after `run -d`) or one lost before its start came last. Made by hand here so the window
  // is not a race: a run whose supervisor died while starting.
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "started", "--", "true"}).exit_code == 0);
  std::filesystem::path dir = spool.run_dir("never-started");
  std::filesystem::create_directory(dir);
  std::filesystem::permissions(dir, std::filesystem::perms(0700));
  write_whole_file(
      dir / "spec.json",
      R"({"spec_version": 1, "run_id": "never-started", "created": "2999-01-01T00:00:00.000000Z"})");
  write_whole_file(dir / "state.json", R"({"run_id": "never-started", "state": "starting"})");
  write_whole_file(dir / "stdout", "");
  write_whole_file(dir / "stderr", "");
  RunResult ls = run_chaperone(spool, {"ls", "--json"});
  REQUIRE(ls.exit_code == 0);
  nlohmann::json list = nlohmann::json::parse(ls.out);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["run_id"] == "never-started");
  CHECK(list[0]["state"] == "lost");
  CHECK(list[1]["run_id"] == "started");
  RunResult text = run_chaperone(spool, {"ls"});
  CHECK(text.out.find("never-started") < text.out.find("started "));
}

TEST_CASE("a reader's look at a live run does not wake the run's other readers (wait did not spin)",
          "[integration][follow][regression][wait]") {
  // Each look of `wait` at a live run took the run's lock through an O_RDWR fd; its close is
  // an IN_CLOSE_WRITE on `lock`, the event by which readers notice a supervisor's death. So
  // `wait` woke itself, looked again, and spun at full CPU for as long as the run lived
  // (3,700 looks while a program wrote 32 MiB; its throughput halved). Here every close of
  // `lock` during two looks of a `wait` is watched: none may be a close after writing.
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  std::string id = start_detached(spool, {"sh", "-c", "read x < \"$0\"", gate.string()});
  REQUIRE(wait_for_state(spool, id, {"running"}));
  std::filesystem::path dir = spool.run_dir(id);
  int watch_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  REQUIRE(watch_fd >= 0);
  REQUIRE(::inotify_add_watch(watch_fd, dir.c_str(), IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) >= 0);
  int closes = 0;
  int closes_after_write = 0;
  // Reads events until `wanted` closes of `lock` were seen (false on the deadline).
  auto read_lock_closes = [&](int wanted, Clock::time_point deadline) {
    alignas(inotify_event) char buffer[4096];
    while (closes < wanted) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd p{watch_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      ssize_t n = ::read(watch_fd, buffer, sizeof buffer);
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        if (event->len > 0 && std::strcmp(event->name, "lock") == 0) {
          ++closes;
          closes_after_write += (event->mask & IN_CLOSE_WRITE) != 0 ? 1 : 0;
        }
      }
    }
    return true;
  };
  ChaperoneProcess waiter(spool, {"wait", id}, within(30s));
  // Its first two looks: before it subscribes and right after.
  REQUIRE(read_lock_closes(2, deadline_in(20s)));
  // A file renamed into the run dir wakes it for a second look (any entry moved in; a file
  // merely written there does not: the dir asks only for its own events).
  write_whole_file(spool.scratch() / "nudge", "");
  std::filesystem::rename(spool.scratch() / "nudge", dir / "nudge");
  REQUIRE(read_lock_closes(3, deadline_in(20s)));
  CHECK(closes_after_write == 0);
  {
    // Opening blocks until the program opens its end: then it reads the line and ends.
    int fd = ::open(gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  RunResult r = waiter.finish();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  ::close(watch_fd);
}

TEST_CASE("wait watches a run's dir only for the dir's own events, and state.json and lock "
          "themselves",
          "[integration][follow][regression][wait]") {
  // wait's dir watch asked for IN_CLOSE_WRITE, which the kernel reports through the dir's
  // children: every child got marked, and each write(2) of the program to stdout walked to
  // the dir and back (capture of 128-byte lines at 0.82x of `prog > file`).
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  std::string id = start_detached(spool, {"sh", "-c", "read x < \"$0\"", gate.string()});
  REQUIRE(wait_for_state(spool, id, {"running"}));
  std::filesystem::path dir = spool.run_dir(id);
  ChaperoneProcess waiter(spool, {"wait", id}, within(30s));
  std::vector<InotifyWatch> watches;
  REQUIRE(wait_until(deadline_in(20s), "wait to watch the run's state.json and lock", [&] {
    watches = inotify_watches(waiter.pid());
    return !watches_on(watches, (dir / "lock").string()).empty()
           && !watches_on(watches, (dir / "state.json").string()).empty();
  }));
  std::string problems = run_watch_problems(watches, dir.string());
  INFO(problems);
  CHECK(problems.empty());
  CHECK(watches_on(watches, (dir / "stdout").string()).empty());
  {
    int fd = ::open(gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  RunResult r = waiter.finish();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("wait out of inotify watches still notices a supervisor SIGKILLed",
          "[integration][follow][wait]") {
  // Two watches left (a user namespace's own limit, so nothing else on the machine is
  // short): the run dir and state.json; none for `lock`. The dir then asks for closes, and
  // the supervisor's death (the close of its lock fd) is seen there.
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  std::string id = start_detached(spool, {"sh", "-c", "read x < \"$0\"", gate.string()});
  REQUIRE(wait_for_state(spool, id, {"running"}));
  std::filesystem::path dir = spool.run_dir(id);
  RunOptions options = within(30s);
  // unshare and sh exec: the front end keeps the pid ChaperoneProcess knows.
  options.wrapper = {"unshare",
                     "--user",
                     "--map-root-user",
                     "--",
                     "sh",
                     "-c",
                     "echo 2 > /proc/sys/user/max_inotify_watches && exec \"$@\"",
                     "sh"};
  ChaperoneProcess waiter(spool, {"wait", id}, options);
  std::vector<InotifyWatch> watches;
  // wait watches the dir first without closes, and widens that watch only once the one on
  // `lock` is refused: until then a look at its watches can catch the narrow mask.
  REQUIRE(
      wait_until(deadline_in(20s), "wait to watch state.json, and the run's dir for closes", [&] {
        watches = inotify_watches(waiter.pid());
        std::vector<InotifyWatch> on_dir = watches_on(watches, dir.string());
        return !on_dir.empty() && (on_dir[0].mask & IN_CLOSE_WRITE) != 0
               && !watches_on(watches, (dir / "state.json").string()).empty();
      }));
  CHECK(watches_on(watches, (dir / "lock").string()).empty());
  pid_t supervisor = spool.state(id).at("supervisor_pid").get<pid_t>();
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  // Nothing else happens in the run: a missed death leaves wait asleep until its deadline.
  RunResult r = waiter.finish();
  INFO("stderr: " << r.err);
  CHECK(!r.deadline_missed);
  CHECK(r.exit_code == 125);
  CHECK(spool.state(id).at("state") == "lost");
}

TEST_CASE("an attached run's supervisor holds the front end's inotify instance, the program not",
          "[integration][follow][attach]") {
  // The last close of an inotify instance waits for the kernel's mark reaper (15 ms and more
  // on a busy machine): the attached front end lends its instance to the supervisor (fd 5),
  // which closes it after the final state, off the way to the exit status. The program must
  // not inherit it.
  TempSpool spool;
  GatedAttachedRun run(spool, "lent");
  nlohmann::json state = spool.state("lent");
  auto fd_target = [](int pid, int fd) {
    std::error_code error;
    std::filesystem::path link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    return std::filesystem::read_symlink(link, error).string();
  };
  int supervisor = state.at("supervisor_pid").get<int>();
  int program = state.at("pid").get<int>();
  CHECK(fd_target(supervisor, 5) == "anon_inode:inotify");
  // `running` is recorded before the program's exec (no moment runs unrecorded); until the
  // exec the child is a copy of the supervisor, fds and all. What it inherits is what it
  // holds once it is `sh`.
  REQUIRE(wait_until(deadline_in(20s), "the program to have exec'ed sh", [&] {
    return read_whole_file("/proc/" + std::to_string(program) + "/comm") == "sh\n";
  }));
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(program) + "/fd")) {
    std::error_code error;
    CHECK(std::filesystem::read_symlink(entry.path(), error).string() != "anon_inode:inotify");
  }
  run.release();
}
