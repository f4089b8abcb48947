// tests/faults/supervisor_kill_test.cpp: the supervisor SIGKILLed at random moments, and a
// reboot simulated (everything of the run gone, or a state from another boot): runs become
// `lost`, never `running` forever; state.json always parses; written output stays an intact
// prefix; no process of the run is left; and nothing is killed on another boot's say-so.
#include "tests/faults/faults_common.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <sstream>
#include <thread>

using namespace chaperone::test;
using namespace chaperone::test::faults;

namespace {

bool is_prefix_of(const std::string& part, const std::string& whole) {
  return part.size() <= whole.size() && whole.compare(0, part.size(), part) == 0;
}

// A process in a session (and group) of its own, like a run's program: pid = pgid.
pid_t start_group_leader(const TempSpool& spool, const std::string& tag) {
  Spawned p = spawn_to_files(
      {"/usr/bin/setsid", "-w", "sleep", "1000"}, spool.root(), spool.scratch(), tag);
  // setsid -w forks when it is a group leader already; we are not, so it just execs.
  REQUIRE(wait_until(deadline_in(10s), "setsid sleep to exec", [&] {
    try {
      return read_whole_file("/proc/" + std::to_string(p.pid) + "/comm") == "sleep\n";
    } catch (const std::exception&) {
      return false;
    }
  }));
  return p.pid;
}

} // namespace

namespace {

struct KillRounds {
  int lost = 0;
  int finished_first = 0;
  int with_leftovers_killed = 0;
  int before_pid = 0;
  int leaked_before_pid =
      0; // background children left behind by a run lost before its pid was recorded
};

// `iterations` runs whose supervisor is SIGKILLed after a random delay in [0, max_delay_us].
// Everything but the leak of a run lost before its pid was recorded is checked here; that
// one is counted (see the case below).
KillRounds kill_supervisors(TempSpool& spool, int iterations, unsigned seed, int max_delay_us) {
  constexpr unsigned k_lines = 400;
  constexpr unsigned k_chunk = 10;
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_us(0, max_delay_us);
  std::string want = seq_stdout(k_lines);
  KillRounds counts;
  for (int i = 0; i < iterations; ++i) {
    std::string name = "sup-" + std::to_string(i);
    std::filesystem::path bg_file = spool.scratch() / (name + ".bg");
    // The program leaves a background child in its group (PR_SET_PDEATHSIG is not inherited
    // by forks): the reader that finds the run lost must end it too.
    std::string script = "sleep 1000 & echo $! > " + bg_file.string() + "; exec \"$@\"";
    // FAULT_RUN tags every process of the run, so any left behind can be found.
    std::string tag = "FAULT_RUN=" + std::to_string(seed) + "-" + name;
    std::vector<std::string> args{
        "run", "-d", "--name", name, "--env", tag, "--", "sh", "-c", script, "sh"};
    // ~120 ms of writing (40 chunks, 3 ms apart) against kill moments of 0-60 ms after the
    // supervisor shows up: most kills land mid-run, however fast the launch is.
    for (const std::string& a : seq_program(k_lines, 3, k_chunk, 3000, false)) {
      args.push_back(a);
    }
    Spawned front = spawn_chaperone(args, spool.root(), spool.scratch(), name);
    REQUIRE(reap_all({&front}, deadline_in(20s), "run -d"));
    REQUIRE(front.exit_code == 0);
    std::filesystem::path dir = spool.run_dir(name);
    std::vector<pid_t> sups;
    // Under load the ~120 ms program may be done before we look: then there is nothing to
    // kill and the round counts as finished first (status below says `exited`).
    REQUIRE(wait_until(deadline_in(20s), "the run's supervisor to show in /proc", [&] {
      sups = supervisors_of(dir);
      if (!sups.empty()) {
        return true;
      }
      std::string now = spool.state(name).value("state", "");
      return now != "starting" && now != "waiting" && now != "running";
    }));
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random))); // the random moment
    for (pid_t s : sups) {
      ::kill(s, SIGKILL);
    }
    REQUIRE(wait_until(deadline_in(10s), "the supervisor to die", [&] {
      for (pid_t s : sups) {
        if (process_running(s)) {
          return false;
        }
      }
      return true;
    }));
    // state.json parses whatever moment the kill came at.
    nlohmann::json raw;
    REQUIRE_NOTHROW(raw = spool.state(name));
    // The program dies with its supervisor (PR_SET_PDEATHSIG), a moment later: until its exec
    // it is a copy of the supervisor that still holds the run's lock, and a reader looking
    // then rightly sees a held lock. Look once the program is gone as well.
    if (raw["pid"].is_number()) {
      REQUIRE(wait_until(deadline_in(10s), "the program to die with its supervisor", [&] {
        return !process_running(raw["pid"].get<pid_t>());
      }));
    }
    RunOptions options;
    options.deadline = 20s;
    RunResult status = run_chaperone(spool, {"status", "--json", name}, options);
    INFO(name << " raw state " << raw.dump() << "\nstatus: " << status.out << status.err);
    REQUIRE(status.exit_code == 0);
    nlohmann::json st = nlohmann::json::parse(status.out);
    // What status said is what it recorded, plus the run's directory (issue 14) and the
    // cursor where its output ends (issue 9; the state is final here, so the final lengths).
    CHECK(st["run_dir"] == spool.run_dir(name).string());
    CHECK(st["cursor"]
          == std::to_string(st["output"]["stdout"].get<std::uint64_t>()) + ":"
                 + std::to_string(st["output"]["stderr"].get<std::uint64_t>()));
    st.erase("run_dir");
    st.erase("cursor");
    CHECK(st == spool.state(name));
    std::string state = st["state"];
    if (state == "exited") {
      ++counts.finished_first;
      CHECK(st["exit_code"] == 3);
      CHECK(spool.output(name, "stdout") == want);
    } else {
      CHECK(state == "lost");
      ++counts.lost;
      std::string out = spool.output(name, "stdout");
      CHECK(is_prefix_of(out, want));
      CHECK(st["output"]["stdout"] == out.size());
      CHECK(run_chaperone(spool, {"wait", name}).exit_code == 125);
      if (st.value("leftovers_killed", false)) {
        ++counts.with_leftovers_killed;
      }
      if (st["pid"].is_null()) {
        ++counts.before_pid;
      }
    }
    // No process of the run is left: the program (by the recorded pid and start time) and
    // its background child (by the pid it wrote down).
    if (st["pid"].is_number()) {
      auto ticks = st["pid_start_ticks"].is_number()
                       ? std::optional<std::uint64_t>(st["pid_start_ticks"].get<std::uint64_t>())
                       : std::nullopt;
      CHECK(wait_until(deadline_in(5s), "the program to be gone", [&] {
        return !process_running(st["pid"].get<pid_t>(), ticks);
      }));
    }
    // Anything else of the run (the background child, recorded in bg_file or not): found by
    // its FAULT_RUN tag. init may take a moment to reap what the reader killed.
    std::vector<pid_t> left;
    Clock::time_point deadline = deadline_in(3s);
    do {
      left = processes_with_env(tag);
      if (!left.empty()) {
        std::this_thread::sleep_for(10ms); // nothing to wait on: init reaps on its own time
      }
    } while (!left.empty() && Clock::now() < deadline);
    if (!left.empty()) {
      for (pid_t p : left) {
        ::kill(p, SIGKILL);
      }
      if (st["pid"].is_null()) {
        ++counts.leaked_before_pid;
      } else {
        FAIL_CHECK(name << ": " << left.size() << " process(es) outlived the run, e.g. pid "
                        << left.front());
      }
    }
    (void)bg_file;
  }
  return counts;
}

} // namespace

TEST_CASE(
    "a supervisor SIGKILLed at random moments leaves a lost run, intact output and no process",
    "[faults][integration][supervisor-kill]") {
  constexpr int k_iterations = 60;
  TempSpool spool;
  auto started = Clock::now();
  KillRounds c = kill_supervisors(spool, k_iterations, 5202611, 60000);
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  WARN("supervisor SIGKILL: " << k_iterations << " iterations in " << elapsed.count() << " ms; "
                              << c.lost << " lost (" << c.with_leftovers_killed
                              << " with leftovers killed by the reader, " << c.before_pid
                              << " before the program's pid was recorded, leaving "
                              << c.leaked_before_pid << " background children behind); "
                              << c.finished_first << " had finished before the kill");
  CHECK(c.lost >= k_iterations / 3);
}

TEST_CASE(
    "a supervisor SIGKILLed between spawning the program and recording its pid leaves no process",
    "[faults][integration][supervisor-kill]") {
  // The supervisor writes the program's pid/pgid to state.json only after posix_spawn
  // returns (chaperone/supervisor.cpp, start_program). Killed in between, the program itself
  // dies (PR_SET_PDEATHSIG), but whatever it forked meanwhile lives on in its group, and the
  // reader that marks the run lost has no pgid to end it with. Kills concentrated on the
  // first milliseconds, where that window is.
  TempSpool spool;
  KillRounds c = kill_supervisors(spool, 40, 777, 8000);
  WARN("early supervisor SIGKILL: 40 iterations; "
       << c.before_pid << " lost before the pid was recorded, " << c.leaked_before_pid
       << " left a background child running");
  CHECK(c.leaked_before_pid == 0);
}

TEST_CASE("a reboot simulated by killing supervisor and program makes the run lost",
          "[faults][integration][reboot]") {
  TempSpool spool;
  std::vector<std::string> args{"run", "-d", "--name", "rebooted", "--"};
  for (const std::string& a : seq_program(100000, 0, 1, 10000, false)) {
    args.push_back(a);
  }
  REQUIRE(run_chaperone(spool, args).exit_code == 0);
  REQUIRE(wait_until(deadline_in(20s), "the run to be running with output", [&] {
    return spool.state("rebooted")["state"] == "running"
           && spool.output_size("rebooted", "stdout") >= 24;
  }));
  nlohmann::json before = spool.state("rebooted");
  pid_t supervisor = before["supervisor_pid"].get<pid_t>();
  pid_t pgid = before["pgid"].get<pid_t>();
  // Power off: the whole group and the supervisor die at once.
  ::kill(-pgid, SIGKILL);
  ::kill(supervisor, SIGKILL);
  REQUIRE(wait_until(deadline_in(10s), "everything to die", [&] {
    return !process_running(supervisor) && !process_running(pgid);
  }));
  std::string out = spool.output("rebooted", "stdout");
  RunResult w = run_chaperone(spool, {"wait", "rebooted"});
  CHECK(w.exit_code == 125);
  nlohmann::json st = spool.state("rebooted");
  CHECK(st["state"] == "lost");
  CHECK(st["exit_code"] == 125);
  // (leftovers_killed may be true here: the program is a zombie until init reaps it, and
  // kill() on a zombie's group succeeds.)
  CHECK(st["output"]["stdout"] == out.size());
  CHECK(out == seq_stdout(static_cast<unsigned>(out.size() / 12)));
  RunResult a = run_chaperone(spool, {"attach", "rebooted"});
  CHECK(a.exit_code == 125);
  CHECK(a.out == out);
  CHECK(a.err.find("lost") != std::string::npos);
}

TEST_CASE("a non-final state from another boot becomes lost and kills nothing",
          "[faults][integration][reboot]") {
  // A run dir as the last boot left it: state `running`, lock free, and a pid and pgid that
  // on this boot name a live, unrelated process group (pids restart after a reboot). The
  // same record with this boot's id and the right start time is a true leftover and is
  // killed: the control case.
  std::string boot =
      GENERATE(std::string("other"), std::string("this"), std::string("this-reused-pid"));
  INFO("case " << boot);
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "old", "--", "true"}).exit_code == 0);
  // The forged record below must meet a free lock, as after a reboot: a supervisor still
  // exiting would (rightly) keep the run `running`.
  REQUIRE(wait_until(deadline_in(10s), "the supervisor of run old to exit", [&] {
    return run_lock_free(spool.run_dir("old"));
  }));
  pid_t leader = start_group_leader(spool, "leader");
  auto ticks = process_start_ticks(leader);
  REQUIRE(ticks);
  nlohmann::json st = spool.state("old");
  std::string this_boot = read_whole_file("/proc/sys/kernel/random/boot_id");
  this_boot.erase(this_boot.find_last_not_of("\n") + 1);
  st["state"] = "running";
  st["exit_code"] = nullptr;
  st["return_code"] = nullptr;
  st["end_time"] = nullptr;
  st["boot_id"] = boot == "other" ? std::string("00000000-0000-4000-8000-000000000000") : this_boot;
  st["pid"] = leader;
  st["pgid"] = leader;
  st["pid_start_ticks"] = boot == "this-reused-pid" ? *ticks + 12345 : *ticks;
  st["supervisor_pid"] = 999999; // above pid_max: no such process
  write_whole_file(spool.run_dir("old") / "state.json", st.dump());

  RunResult s = run_chaperone(spool, {"status", "old"});
  CHECK(s.exit_code == 0);
  CHECK(s.out.find("lost") != std::string::npos);
  nlohmann::json after = spool.state("old");
  CHECK(after["state"] == "lost");
  bool alive = wait_until(deadline_in(2s), "the group to be (or stay) alive as expected", [&] {
    return process_running(leader, ticks) == (boot != "this");
  });
  CHECK(alive);
  if (boot == "this") {
    CHECK(after.value("leftovers_killed", false));
  } else {
    CHECK_FALSE(after.value("leftovers_killed", false));
  }
  ::kill(-leader, SIGKILL);
  int status = 0;
  ::waitpid(leader, &status, 0);
}
