// tests/faults/caller_kill_test.cpp: the attached front end (the caller) SIGKILLed at random
// moments, hundreds of times: every run it created still ends final with the program's exit
// code and every byte, and `attach` delivers them.
#include "tests/faults/faults_common.hpp"

#include <signal.h>
#include <time.h>

#include <random>
#include <thread>

using namespace chaperone::test;
using namespace chaperone::test::faults;

TEST_CASE("a caller SIGKILLed at random moments loses no run, byte or exit code",
          "[faults][integration][caller-kill]") {
  constexpr int k_iterations = 240;
  constexpr int k_in_flight = 6;
  constexpr unsigned k_chunk = 20;
  TempSpool spool;
  std::mt19937 random(20261125); // fixed seed: a failure replays the same delays
  std::uniform_int_distribution<int> delay_us(0, 150000);

  struct Iteration {
    std::string name;
    unsigned lines;
    int code;
    Spawned front;
    Clock::time_point kill_at;
    bool killed = false;
  };
  std::vector<Iteration> its(k_iterations);
  for (int i = 0; i < k_iterations; ++i) {
    its[i].name = "caller-" + std::to_string(i);
    its[i].lines = 100 + static_cast<unsigned>(i % 7) * 60;
    its[i].code = (i * 37) % 120;
  }
  auto started = Clock::now();
  // A sliding window of front ends, each SIGKILLed at its own random moment.
  int next = 0;
  std::vector<int> flying;
  while (next < k_iterations || !flying.empty()) {
    while (next < k_iterations && static_cast<int>(flying.size()) < k_in_flight) {
      Iteration& it = its[next];
      std::vector<std::string> args{"run", "--name", it.name, "--"};
      for (const std::string& a : seq_program(it.lines, it.code, k_chunk, 5000, true)) {
        args.push_back(a);
      }
      it.front = spawn_chaperone(args, spool.root(), spool.scratch(), it.name);
      it.kill_at = Clock::now() + std::chrono::microseconds(delay_us(random));
      flying.push_back(next++);
    }
    auto soonest = std::min_element(flying.begin(), flying.end(), [&](int a, int b) {
      return its[a].kill_at < its[b].kill_at;
    });
    Iteration& it = its[*soonest];
    std::this_thread::sleep_until(it.kill_at); // the fault's own random timing, not a sync
    if (!try_reap(it.front)) {
      ::kill(it.front.pid, SIGKILL);
      it.killed = true;
    }
    flying.erase(soonest);
  }
  std::vector<Spawned*> fronts;
  for (Iteration& it : its) {
    fronts.push_back(&it.front);
  }
  REQUIRE(reap_all(fronts, deadline_in(60s), "the killed front ends to be reaped"));

  // Now every run that exists must come to its true end; attach (a few at a time) delivers it.
  int killed = 0, finished_first = 0, no_run = 0, lost_before_start = 0, complete = 0;
  std::vector<std::string> listing = spool.listing();
  int half_made = 0;
  for (const std::string& name : listing) {
    if (name[0] == '.' && std::filesystem::is_directory(spool.root() / name)) {
      ++half_made;
    }
  }
  for (std::size_t first = 0; first < its.size(); first += 8) {
    std::vector<std::pair<Iteration*, Spawned>> attaches;
    for (std::size_t i = first; i < std::min(its.size(), first + 8); ++i) {
      Iteration& it = its[i];
      killed += it.killed ? 1 : 0;
      finished_first += it.killed ? 0 : 1;
      if (!std::filesystem::exists(spool.run_dir(it.name))) {
        INFO(it.name << ": front end exit " << it.front.exit_code.value_or(-1) << " stderr "
                     << it.front.err_text());
        CHECK(it.killed); // only a killed caller may have left no run
        ++no_run;
        continue;
      }
      attaches.emplace_back(
          &it,
          spawn_chaperone({"attach", it.name}, spool.root(), spool.scratch(), it.name + "-attach"));
    }
    std::vector<Spawned*> ps;
    for (auto& a : attaches) {
      ps.push_back(&a.second);
    }
    REQUIRE(reap_all(ps, deadline_in(60s), "attach to every run"));
    for (auto& [it, attach] : attaches) {
      nlohmann::json st = spool.state(it->name);
      INFO(it->name << " (caller " << (it->killed ? "killed" : "not killed") << ", exit "
                    << it->front.exit_code.value_or(-1) << "): state " << st.dump()
                    << "\nattach stderr: " << attach.err_text());
      if (st["state"] == "lost" && st["pid"].is_null()) {
        // The caller died between creating the run and starting its supervisor: the
        // program never ran. Nothing was lost, but the run must say so and hold nothing.
        CHECK(it->killed);
        CHECK(st["start_time"].is_null());
        CHECK(spool.output(it->name, "stdout").empty());
        CHECK(attach.exit_code == 125);
        ++lost_before_start;
        continue;
      }
      CHECK(st["state"] == "exited");
      CHECK(st["exit_code"] == it->code);
      CHECK(attach.exit_code == it->code);
      std::string want_out = seq_stdout(it->lines);
      std::string want_err = seq_stderr(it->lines, k_chunk);
      bool out_ok = attach.out_text() == want_out && spool.output(it->name, "stdout") == want_out;
      bool err_ok = attach.err_text() == want_err;
      CHECK(out_ok);
      CHECK(err_ok);
      CHECK(st["output"]["stdout"] == want_out.size());
      if (out_ok && err_ok && attach.exit_code == it->code) {
        ++complete;
      }
    }
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  WARN("caller SIGKILL: " << k_iterations << " iterations in " << elapsed.count() << " ms; "
                          << killed << " callers killed mid-way (" << finished_first
                          << " had finished first); " << complete
                          << " runs complete and byte-exact via attach; " << no_run
                          << " killed before creating a run; " << lost_before_start
                          << " killed before the supervisor started (run lost, program never ran); "
                          << half_made << " half-made hidden run dirs left in the spool root");
  CHECK(complete + no_run + lost_before_start == k_iterations);
  CHECK(killed >= k_iterations / 3); // enough of the delays must land mid-run to mean anything
}
