// tests/faults/inotify_test.cpp: a follower whose user has used up its inotify instances
// (max_user_instances) falls back to polling with one warning and still delivers every byte
// and the exit code. The limit is reached as a dedicated user (chapino), never by changing
// the global sysctl.
#include "tests/faults/faults_common.hpp"

#include <sstream>

using namespace chaperone::test;
using namespace chaperone::test::faults;

TEST_CASE("attach with inotify exhausted polls, warns once and delivers every byte and the code",
          "[faults][integration][inotify]") {
  TestUser user = ensure_test_user();
  TempSpool spool;
  give_spool_to(spool, user);
  constexpr unsigned k_lines = 3000;
  std::vector<std::string> run_args{"run", "-d", "--name", "noino", "--cwd", "/", "--"};
  // ~1.5 s of paced output: the follower must poll many times while the run lives.
  for (const std::string& a : seq_program(k_lines, 42, 20, 10000, false)) {
    run_args.push_back(a);
  }
  Spawned front = spawn_chaperone(run_args, spool.root(), spool.scratch(), "run", as_user(user));
  REQUIRE(reap_all({&front}, deadline_in(20s), "run -d as chapino"));
  INFO("run -d stderr: " << front.err_text());
  REQUIRE(front.exit_code == 0);

  std::vector<std::string> hog = as_user(user);
  hog.push_back(helper());
  hog.emplace_back("hog-inotify");
  // Three followers at once while the run lives (the first hog takes the whole budget, the
  // others find none left), from the start and from an offset; then one after the end.
  std::vector<Spawned> attaches;
  attaches.reserve(4);
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> args{"attach", "noino"};
    if (i == 1) {
      args = {"attach", "--from-offset", "1200:0", "noino"};
    }
    attaches.push_back(
        spawn_chaperone(args, spool.root(), spool.scratch(), "attach-" + std::to_string(i), hog));
  }
  std::vector<Spawned*> live;
  for (Spawned& a : attaches) {
    live.push_back(&a);
  }
  REQUIRE(reap_all(live, deadline_in(60s), "attach without inotify"));
  attaches.push_back(
      spawn_chaperone({"attach", "noino"}, spool.root(), spool.scratch(), "attach-3", hog));
  REQUIRE(reap_all({&attaches.back()}, deadline_in(30s), "attach without inotify after the end"));
  std::string want = seq_stdout(k_lines);
  int warned = 0;
  long held = 0;
  for (std::size_t i = 0; i < attaches.size(); ++i) {
    Spawned& a = attaches[i];
    std::vector<std::string> lines;
    std::istringstream err(a.err_text());
    for (std::string line; std::getline(err, line);) {
      lines.push_back(line);
    }
    INFO("attach " << i << " stderr:\n" << a.err_text());
    CHECK(a.exit_code == 42);
    CHECK(a.out_text() == (i == 1 ? want.substr(1200) : want));
    // The hog's own line, then exactly one warning.
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].find("holding") != std::string::npos);
    held += std::stol(lines[0].substr(lines[0].find("holding") + 8));
    CHECK(lines[1].find("inotify") != std::string::npos);
    CHECK(lines[1].find("polling") != std::string::npos);
    warned += lines[1].find("polling") != std::string::npos ? 1 : 0;
  }
  CHECK(held > 0);
  WARN("inotify exhausted: " << attaches.size()
                             << " followers delivered every byte and exit 42 by polling; " << warned
                             << " warned once");
}
