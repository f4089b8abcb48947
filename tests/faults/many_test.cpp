// tests/faults/many_test.cpp: many at once on a 2-core machine: 500 concurrent runs, and 100
// followers attached to one run. Every output byte-exact, every exit code right.
#include "tests/faults/faults_common.hpp"

using namespace chaperone::test;
using namespace chaperone::test::faults;

TEST_CASE("500 concurrent short runs all end with the right code and byte-exact output",
          "[faults][integration][many][storm]") {
  constexpr int k_runs = 500;
  constexpr unsigned k_chunk = 10;
  TempSpool spool;
  auto started = Clock::now();
  auto lines_of = [](int i) { return 20 + static_cast<unsigned>(i % 9) * 10; };
  auto code_of = [](int i) { return i % 100; };
  // All 500 launched without waiting for any; every program waits for the gate, so all 500
  // runs (supervisor and program) are alive at once; then they write paced output for ~0.5 s.
  std::filesystem::path gate = spool.scratch() / "gate";
  std::vector<Spawned> fronts;
  fronts.reserve(k_runs);
  for (int i = 0; i < k_runs; ++i) {
    unsigned lines = lines_of(i);
    std::vector<std::string> args{"run",
                                  "-d",
                                  "--name",
                                  "many-" + std::to_string(i),
                                  "--env",
                                  "FAULT_GATE=" + gate.string(),
                                  "--"};
    for (const std::string& a :
         seq_program(lines, code_of(i), k_chunk, 500000 / (lines / k_chunk), true)) {
      args.push_back(a);
    }
    fronts.push_back(
        spawn_chaperone(args, spool.root(), spool.scratch(), "run-" + std::to_string(i)));
  }
  std::vector<Spawned*> ps;
  for (Spawned& f : fronts) {
    ps.push_back(&f);
  }
  REQUIRE(reap_all(ps, deadline_in(120s), "500 run -d"));
  auto launched = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  int launch_failures = 0;
  for (int i = 0; i < k_runs; ++i) {
    if (fronts[i].exit_code != 0) {
      ++launch_failures;
      FAIL_CHECK("run -d " << i << " exit " << fronts[i].exit_code.value_or(-1) << ": "
                           << fronts[i].err_text());
    }
  }
  REQUIRE(launch_failures == 0);
  int live_at_launch_end = 0;
  for (int i = 0; i < k_runs; ++i) {
    std::string state = spool.state("many-" + std::to_string(i)).value("state", "");
    live_at_launch_end += (state == "running" || state == "starting") ? 1 : 0;
  }
  write_whole_file(gate, "");
  // One `wait` for all 500: it exits with the first non-zero code in argument order.
  std::vector<std::string> wait_args{"wait"};
  for (int i = 0; i < k_runs; ++i) {
    wait_args.push_back("many-" + std::to_string(i));
  }
  RunOptions long_wait;
  long_wait.deadline = 120s;
  RunResult w = run_chaperone(spool, wait_args, long_wait);
  INFO("wait stderr: " << w.err);
  CHECK(w.exit_code == code_of(1));
  // Then attach to each (16 at a time): the code and every byte of both streams.
  int exact = 0;
  for (int first = 0; first < k_runs; first += 16) {
    std::vector<Spawned> attaches;
    attaches.reserve(16);
    for (int i = first; i < std::min(k_runs, first + 16); ++i) {
      attaches.push_back(spawn_chaperone({"attach", "many-" + std::to_string(i)},
                                         spool.root(),
                                         spool.scratch(),
                                         "attach-" + std::to_string(i)));
    }
    std::vector<Spawned*> aps;
    for (Spawned& a : attaches) {
      aps.push_back(&a);
    }
    REQUIRE(reap_all(aps, deadline_in(60s), "attach to finished runs"));
    for (int i = first; i < std::min(k_runs, first + 16); ++i) {
      Spawned& a = attaches[static_cast<std::size_t>(i - first)];
      std::string id = "many-" + std::to_string(i);
      nlohmann::json st = spool.state(id);
      INFO(id << " state " << st.dump() << "\nattach stderr " << a.err_text().substr(0, 500));
      bool ok = a.exit_code == code_of(i) && st["exit_code"] == code_of(i)
                && st["state"] == "exited" && a.out_text() == seq_stdout(lines_of(i))
                && a.err_text() == seq_stderr(lines_of(i), k_chunk)
                && spool.output(id, "stdout") == seq_stdout(lines_of(i));
      CHECK(ok);
      exact += ok ? 1 : 0;
    }
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  WARN("500 concurrent runs: launched in "
       << launched.count() << " ms, " << live_at_launch_end << " live at once behind the gate; "
       << exact << " byte-exact with the right code; total " << elapsed.count() << " ms");
  CHECK(exact == k_runs);
  CHECK(live_at_launch_end == k_runs);
}

TEST_CASE("100 followers attached to one producing run all get every byte and the code",
          "[faults][integration][many][storm]") {
  // As the dedicated user: 100 inotify instances of its own, so other suites running at the
  // same time keep root's budget (max_user_instances 128).
  constexpr int k_followers = 100;
  TestUser user = ensure_test_user();
  TempSpool spool;
  give_spool_to(spool, user);
  constexpr unsigned k_lines = 20000; // 240 KB over ~2 s
  constexpr unsigned k_chunk = 100;
  std::vector<std::string> run_args{"run", "-d", "--name", "watched", "--cwd", "/", "--"};
  for (const std::string& a : seq_program(k_lines, 77, k_chunk, 10000, true)) {
    run_args.push_back(a);
  }
  auto started = Clock::now();
  Spawned front = spawn_chaperone(run_args, spool.root(), spool.scratch(), "run", as_user(user));
  REQUIRE(reap_all({&front}, deadline_in(20s), "run -d"));
  REQUIRE(front.exit_code == 0);
  std::vector<Spawned> followers;
  followers.reserve(k_followers);
  for (int i = 0; i < k_followers; ++i) {
    followers.push_back(spawn_chaperone({"attach", "watched"},
                                        spool.root(),
                                        spool.scratch(),
                                        "follower-" + std::to_string(i),
                                        as_user(user)));
  }
  std::vector<Spawned*> ps;
  for (Spawned& f : followers) {
    ps.push_back(&f);
  }
  REQUIRE(reap_all(ps, deadline_in(120s), "100 followers"));
  nlohmann::json st = spool.state("watched");
  CHECK(st["state"] == "exited");
  std::string want_out = seq_stdout(k_lines);
  std::string want_err = seq_stderr(k_lines, k_chunk);
  int exact = 0;
  for (int i = 0; i < k_followers; ++i) {
    Spawned& f = followers[static_cast<std::size_t>(i)];
    bool ok = f.exit_code == 77 && f.out_text() == want_out && f.err_text() == want_err;
    INFO("follower " << i << " exit " << f.exit_code.value_or(-1) << " stdout "
                     << f.out_text().size() << " bytes, stderr: " << f.err_text().substr(0, 300));
    CHECK(ok);
    exact += ok ? 1 : 0;
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  WARN("100 followers: " << exact << " byte-exact with exit 77 (" << want_out.size() << "+"
                         << want_err.size() << " bytes each) in " << elapsed.count() << " ms");
  CHECK(exact == k_followers);
}
