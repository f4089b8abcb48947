// tests/integration/hold_test.cpp: a supervisor that waits as chaperone-hold while its program
// runs (chaperone/supervisor/hand_off.hpp), seen from outside: /proc, signals, the spool.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <set>

using namespace chaperone::test;

namespace {

std::string exe_of(pid_t pid) {
  std::error_code error;
  std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error);
  return error ? std::string() : exe.string();
}

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size()
         && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_held(pid_t pid) {
  return ends_with(exe_of(pid), "/chaperone-hold");
}

// Waits until run `id` runs and its supervisor has handed off; returns the supervisor's pid.
pid_t wait_held(const TempSpool& spool, const std::string& id) {
  pid_t supervisor = -1;
  REQUIRE(wait_until(deadline_in(20s), "the supervisor of " + id + " to be held", [&] {
    nlohmann::json st = spool.state(id);
    if (st.value("state", "") != "running" || !st.contains("supervisor_pid")) {
      return false;
    }
    supervisor = st["supervisor_pid"].get<pid_t>();
    return is_held(supervisor);
  }));
  return supervisor;
}

void make_fifo(const std::filesystem::path& path) {
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
}

// Lets a program blocked in `read x < FIFO` go on: waits for it to open the FIFO, writes a line.
// A program that reads the same FIFO again loops (`until read y < FIFO; do :; done`): its next
// open can come before our close, and then its read gets only the EOF of that close.
void open_gate(const std::filesystem::path& fifo) {
  int fd = -1;
  REQUIRE(wait_until(deadline_in(20s), "a reader on " + fifo.string(), [&] {
    fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    return fd >= 0;
  }));
  REQUIRE(::write(fd, "go\n", 3) == 3);
  ::close(fd);
}

// A pid a program wrote into `path`, once it is there.
pid_t read_pid_file(const std::filesystem::path& path) {
  pid_t pid = -1;
  REQUIRE(wait_until(deadline_in(20s), "a pid in " + path.string(), [&] {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
      return false;
    }
    std::string text = read_whole_file(path);
    if (text.empty() || text.back() != '\n') {
      return false;
    }
    pid = std::stoi(text);
    return true;
  }));
  return pid;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// "2026-12-03T10:00:00.123456Z" as seconds since the epoch.
double utc_seconds(const std::string& text) {
  std::tm tm{};
  double fraction = 0;
  int second = 0;
  REQUIRE(std::sscanf(text.c_str(),
                      "%d-%d-%dT%d:%d:%d%lfZ",
                      &tm.tm_year,
                      &tm.tm_mon,
                      &tm.tm_mday,
                      &tm.tm_hour,
                      &tm.tm_min,
                      &second,
                      &fraction)
          == 7);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = second;
  return static_cast<double>(::timegm(&tm)) + fraction;
}

// A copy of the three binaries in `dir` (copies, not links: a test may chmod them), without
// chaperone-hold if `with_hold` is false; and the RunOptions that run the front end from there
// (it starts the supervisor beside itself, which looks for chaperone-hold beside itself).
RunOptions through_copy(const std::filesystem::path& dir, bool with_hold) {
  std::filesystem::create_directories(dir);
  std::filesystem::path built = std::filesystem::path(chaperone_path()).parent_path();
  std::vector<std::string> names{"chaperone", "chaperone-supervisor"};
  if (with_hold) {
    names.emplace_back("chaperone-hold");
  }
  for (const std::string& name : names) {
    std::filesystem::copy_file(built / name, dir / name);
  }
  RunOptions options;
  options.wrapper = {"sh", "-c", "shift; exec \"$0\" \"$@\"", (dir / "chaperone").string()};
  return options;
}

// `run -d` through `options`, exit 0 required; returns the id.
std::string start_detached_with(const TempSpool& spool,
                                const RunOptions& options,
                                std::vector<std::string> args) {
  args.insert(args.begin(), {"run", "-d"});
  RunResult r = run_chaperone(spool, args, options);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(!r.out.empty());
  return r.out.substr(0, r.out.size() - 1);
}

// Empty before the supervisor's first line, which creates the file.
std::string supervisor_log(const TempSpool& spool, const std::string& id) {
  std::filesystem::path log = spool.run_dir(id) / "supervisor.log";
  return std::filesystem::exists(log) ? read_whole_file(log) : std::string();
}

} // namespace

TEST_CASE("a run longer than the settle time waits in chaperone-hold and ends with its exit code",
          "[integration][hold]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  make_fifo(gate);
  std::string id = start_detached(spool, {"sh", "-c", "read x < \"$0\"; exit 3", gate.string()});
  pid_t supervisor = wait_held(spool, id);
  nlohmann::json st = spool.state(id);
  auto program = st["pid"].get<pid_t>();
  // Same process: the program is still its child, alive, and the run is still held.
  auto seen = read_process(program);
  REQUIRE(seen);
  CHECK(seen->ppid == supervisor);
  CHECK(seen->live());
  CHECK_FALSE(run_lock_free(spool.run_dir(id)));
  RunResult status = run_chaperone(spool, {"status", "--json", id});
  CHECK(nlohmann::json::parse(status.out)["state"] == "running");
  // Only the run's lock and the two images cross into the hold image (beside its own
  // signalfd): nothing of the run's files, the log or libuv leaks (each hand-off would add
  // one more).
  std::set<std::string> targets;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(supervisor) + "/fd")) {
    if (std::stoi(entry.path().filename().string()) > 2) {
      targets.insert(std::filesystem::read_symlink(entry.path()).string());
    }
  }
  std::filesystem::path built = std::filesystem::path(chaperone_path()).parent_path();
  CHECK(targets
        == std::set<std::string>{(spool.run_dir(id) / "lock").string(),
                                 (built / "chaperone-supervisor").string(),
                                 (built / "chaperone-hold").string(),
                                 "anon_inode:[signalfd]"});

  open_gate(gate);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 3);
  st = spool.state(id);
  CHECK(st["state"] == "exited");
  CHECK(st["return_code"] == 3);
  CHECK(st["exit_code"] == 3);
  std::string log = supervisor_log(spool, id);
  INFO(log);
  CHECK(count_of(log, "holding: exec chaperone-hold") == 1);
  CHECK(count_of(log, "resumed pid=") == 1);
  CHECK(wait_until(deadline_in(20s), "the supervisor to let go", [&] {
    return run_lock_free(spool.run_dir(id));
  }));
}

TEST_CASE("SIGTERM to a held supervisor is forwarded to the program and recorded",
          "[integration][hold]") {
  int signum = GENERATE(SIGTERM, SIGINT);
  TempSpool spool;
  std::string id = start_detached(spool, {"sleep", "1000"});
  pid_t supervisor = wait_held(spool, id);
  REQUIRE(::kill(supervisor, signum) == 0);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 128 + signum);
  nlohmann::json st = spool.state(id);
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == signum);
  REQUIRE(st["signals_sent"].size() == 1);
  CHECK(st["signals_sent"][0]["signal"] == signum);
  CHECK(st["signals_sent"][0]["reason"] == "forwarded");
}

TEST_CASE("a --timeout that falls due while the supervisor is held fires on time, then kill-after",
          "[integration][hold]") {
  TempSpool spool;
  // Ignores SIGTERM, and so does its sleep: only the kill-after's SIGKILL ends it.
  std::string id = start_detached(spool,
                                  {"sh", "-c", "trap '' TERM; while :; do sleep 1; done"},
                                  {"--timeout", "700ms", "--kill-after", "400ms"});
  wait_held(spool, id);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 124);
  nlohmann::json st = spool.state(id);
  CHECK(st["state"] == "timed_out");
  CHECK(st["exit_code"] == 124);
  REQUIRE(st["signals_sent"].size() == 2);
  CHECK(st["signals_sent"][0]["name"] == "SIGTERM");
  CHECK(st["signals_sent"][0]["reason"] == "timeout");
  CHECK(st["signals_sent"][1]["name"] == "SIGKILL");
  CHECK(st["signals_sent"][1]["reason"] == "kill-after");
  double started = utc_seconds(st["start_time"]);
  double termed = utc_seconds(st["signals_sent"][0]["time"]);
  double killed = utc_seconds(st["signals_sent"][1]["time"]);
  // On time: not before the deadline (the timer starts after start_time), and not much after it
  // (an exec back and a timer; the bound leaves room for a loaded machine).
  CHECK(termed - started >= 0.7);
  CHECK(termed - started < 0.7 + 0.3);
  // The grace timer counts from libuv's loop time, taken when the loop woke, a little before
  // the SIGTERM's time was recorded: it may end up to a few ms short of 0.4 s after it.
  CHECK(killed - termed >= 0.4 - 0.01);
  CHECK(killed - termed < 0.4 + 0.3);
  CHECK(count_of(supervisor_log(spool, id), "holding: exec chaperone-hold") == 1);
}

TEST_CASE("SIGKILL of a held supervisor takes the program with it and the run reads lost",
          "[integration][hold]") {
  TempSpool spool;
  std::string id = start_detached(spool, {"sleep", "1000"});
  pid_t supervisor = wait_held(spool, id);
  auto program = spool.state(id)["pid"].get<pid_t>();
  auto program_ticks = process_start_ticks(program);
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  // PR_SET_PDEATHSIG holds across the hand-off's execve: the program dies with the holder.
  CHECK(wait_until(deadline_in(5s), "the program to end with its supervisor", [&] {
    return !process_running(program, program_ticks);
  }));
  RunResult status = run_chaperone(spool, {"status", "--json", id});
  CHECK(status.exit_code == 0);
  CHECK(nlohmann::json::parse(status.out)["state"] == "lost");
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 125);
}

TEST_CASE("a held supervisor keeps the run's lock and its --lock: the next run waits",
          "[integration][hold]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  make_fifo(gate);
  std::string first = start_detached(
      spool, {"sh", "-c", "read x < \"$0\"", gate.string()}, {"--name", "a", "--lock", "db"});
  wait_held(spool, first);
  std::string second = start_detached(spool, {"true"}, {"--name", "b", "--lock", "db"});
  REQUIRE(wait_for_state(spool, second, {"waiting"}));
  // The hold image holds both locks: `status` sees a live run, the next one waits.
  CHECK(is_held(spool.state(first)["supervisor_pid"].get<pid_t>()));
  RunResult status = run_chaperone(spool, {"status", "--json", first});
  CHECK(nlohmann::json::parse(status.out)["state"] == "running");
  CHECK(spool.state(second)["state"] == "waiting");
  CHECK(spool.state(second).contains("waiting_for"));

  open_gate(gate);
  CHECK(run_chaperone(spool, {"wait", first}).exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", second}).exit_code == 0);
  CHECK(spool.state(second)["state"] == "exited");
}

TEST_CASE("a double-forked leftover made while the supervisor is held is reparented to it",
          "[integration][hold][leftovers]") {
  bool keep = GENERATE(false, true);
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  std::filesystem::path pid_file = spool.scratch() / "leftover.pid";
  make_fifo(gate);
  std::vector<std::string> extra;
  if (keep) {
    extra.emplace_back("--keep-children");
  }
  // The daemon is made only once the supervisor is held: its subshell's exit orphans it, and
  // it goes to the nearest child subreaper, which must still be the held supervisor.
  std::string id = start_detached(
      spool,
      {"sh",
       "-c",
       "read x < \"$0\"; ( setsid sh -c 'echo $$ > \"$0\"; exec sleep 1000' \"$1\" & ); "
       "until read y < \"$0\"; do :; done",
       gate.string(),
       pid_file.string()},
      extra);
  pid_t supervisor = wait_held(spool, id);
  open_gate(gate);
  pid_t leftover = read_pid_file(pid_file);
  auto leftover_ticks = process_start_ticks(leftover);
  CHECK(wait_until(deadline_in(20s), "the leftover to be reparented to the supervisor", [&] {
    auto p = read_process(leftover);
    return p && p->ppid == supervisor;
  }));
  CHECK(is_held(supervisor)); // an orphan's arrival is no SIGCHLD: still held

  open_gate(gate);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 0);
  if (keep) {
    CHECK(process_running(leftover, leftover_ticks));
    ::kill(leftover, SIGKILL);
  } else {
    CHECK(wait_until(deadline_in(20s), "the leftover to be ended with the run", [&] {
      return !process_running(leftover, leftover_ticks);
    }));
  }
}

TEST_CASE("a held supervisor woken by a leftover's end goes back to hold", "[integration][hold]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  std::filesystem::path leftover_gate = spool.scratch() / "leftover-gate";
  std::filesystem::path pid_file = spool.scratch() / "leftover.pid";
  make_fifo(gate);
  make_fifo(leftover_gate);
  std::string id = start_detached(
      spool,
      {"sh",
       "-c",
       "read x < \"$0\"; ( sh -c 'echo $$ > \"$1\"; read z < \"$0\"' \"$1\" \"$2\" & ); "
       "until read y < \"$0\"; do :; done",
       gate.string(),
       leftover_gate.string(),
       pid_file.string()});
  pid_t supervisor = wait_held(spool, id);
  open_gate(gate);
  pid_t leftover = read_pid_file(pid_file);
  REQUIRE(wait_until(deadline_in(20s), "the leftover to be reparented", [&] {
    auto p = read_process(leftover);
    return p && p->ppid == supervisor;
  }));
  open_gate(leftover_gate); // its end is a SIGCHLD: the supervisor comes back to reap it
  CHECK(wait_until(deadline_in(20s), "a second hand-off", [&] {
    return count_of(supervisor_log(spool, id), "holding: exec chaperone-hold") == 2;
  }));
  CHECK(wait_until(
      deadline_in(20s), "the supervisor held again", [&] { return is_held(supervisor); }));
  std::string log = supervisor_log(spool, id);
  INFO(log);
  CHECK(log.find("reaped leftover pid=" + std::to_string(leftover)) != std::string::npos);
  open_gate(gate);
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 0);
}

TEST_CASE("a held run ends with the state.json it would have had without the hold",
          "[integration][hold]") {
  std::string how = GENERATE(std::string("forwarded"), std::string("timeout"));
  nlohmann::json states[2];
  for (bool with_hold : {true, false}) {
    TempSpool spool;
    RunOptions options = through_copy(spool.scratch() / "bin", with_hold);
    std::vector<std::string> args{"--name", "same"};
    if (how == "timeout") {
      args.insert(args.end(), {"--timeout", "600ms", "--kill-after", "300ms"});
    }
    args.insert(args.end(),
                {"--", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"});
    std::string id = start_detached_with(spool, options, args);
    REQUIRE(wait_until(deadline_in(20s), "the program to trap SIGTERM", [&] {
      return spool.output(id, "stdout") == "ready\n";
    }));
    auto supervisor = spool.state(id)["supervisor_pid"].get<pid_t>();
    if (with_hold) {
      wait_held(spool, id);
    }
    if (how == "forwarded") {
      // Ignored by the program: the run then ends by `kill -s KILL`, recorded too.
      REQUIRE(::kill(supervisor, SIGTERM) == 0);
      REQUIRE(wait_until(deadline_in(20s), "the SIGTERM to be forwarded", [&] {
        return supervisor_log(spool, id).find("sending SIGTERM to group") != std::string::npos;
      }));
      REQUIRE(run_chaperone(spool, {"kill", "-s", "KILL", id}).exit_code == 0);
    }
    CHECK(run_chaperone(spool, {"wait", id}).exit_code == (how == "timeout" ? 124 : 137));
    std::string log = supervisor_log(spool, id);
    INFO(log);
    CHECK(count_of(log, "holding: exec chaperone-hold") == (with_hold ? 1U : 0U));
    states[with_hold ? 0 : 1] = comparable_state(spool.state(id));
  }
  INFO("held:   " << states[0].dump());
  INFO("unheld: " << states[1].dump());
  CHECK(states[0] == states[1]);
}

TEST_CASE("a held supervisor whose binary cannot be exec'd back ends the program's group",
          "[integration][hold]") {
  TempSpool spool;
  std::filesystem::path bin = spool.scratch() / "bin";
  RunOptions options = through_copy(bin, true);
  std::filesystem::path pid_file = spool.scratch() / "background.pid";
  // The background sleep is in the program's group but no child of the supervisor: only the
  // group's SIGKILL ends it (PDEATHSIG reaches the supervisor's own child alone).
  std::string id = start_detached_with(
      spool, options, {"--", "sh", "-c", "sleep 1000 & echo $! > \"$0\"; wait", pid_file.string()});
  pid_t supervisor = wait_held(spool, id);
  auto supervisor_ticks = process_start_ticks(supervisor);
  pid_t background = read_pid_file(pid_file);
  auto background_ticks = process_start_ticks(background);
  // As after an upgrade gone wrong: the file the held supervisor would exec cannot be run.
  std::filesystem::permissions(bin / "chaperone-supervisor",
                               std::filesystem::perms::owner_read
                                   | std::filesystem::perms::owner_write);
  REQUIRE(::kill(supervisor, SIGTERM) == 0);
  CHECK(wait_until(deadline_in(20s), "chaperone-hold to give up", [&] {
    return !process_running(supervisor, supervisor_ticks);
  }));
  CHECK(wait_until(deadline_in(5s), "the program's group to be killed", [&] {
    return !process_running(background, background_ticks);
  }));
  RunResult status = run_chaperone(spool, {"status", "--json", id});
  CHECK(nlohmann::json::parse(status.out)["state"] == "lost");
  std::string log = supervisor_log(spool, id);
  INFO(log);
  CHECK(log.find("chaperone-hold: execveat supervisor") != std::string::npos);
  CHECK(log.find("Permission denied; 5 tries: SIGKILL to group") != std::string::npos);
}
