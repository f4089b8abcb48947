// tests/workflows/parallel_test.cpp: GNU parallel --resume over named runs: killed midway
// and resumed, every job runs exactly once (the in-flight ones are attached to, not rerun).
#include "tests/workflows/workflows_common.hpp"

#include <signal.h>

#include <map>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

TEST_CASE("parallel --resume over 200 jobs killed midway runs every job exactly once",
          "[workflows][parallel]") {
  if (::access("/usr/bin/parallel", X_OK) != 0) {
    FAIL("GNU parallel is missing: run scripts/setup (Debian package parallel)");
  }
  TempSpool spool;
  auto s = spool.scratch();
  std::filesystem::path ledger = s / "ledger";
  std::filesystem::path joblog = s / "joblog";
  // Each job appends its number when it runs; --attach-existing makes a rerun of an
  // in-flight job attach to it instead of running it again.
  std::string job = std::string(chaperone_path())
                    + " run --name job-{} --attach-existing -- sh -c 'echo {} >> " + ledger.string()
                    + "; sleep 0.2'";
  std::vector<std::string> parallel{"/usr/bin/parallel",
                                    "--will-cite",
                                    "-j",
                                    "16",
                                    "--resume",
                                    "--joblog",
                                    joblog.string(),
                                    job,
                                    ":::"};
  for (int i = 1; i <= 200; ++i) {
    parallel.push_back(std::to_string(i));
  }
  Spawned first = spawn_to_files(parallel, spool.root(), s, "first");
  REQUIRE(wait_until(deadline_in(120s), "60 jobs to have run", [&] {
    return file_exists(ledger) && lines_of(read_whole_file(ledger)).size() >= 60;
  }));
  REQUIRE(::kill(first.pid, SIGKILL) == 0);
  std::vector<Spawned*> firsts{&first};
  REQUIRE(reap_all(firsts, deadline_in(20s), "killed parallel"));
  Spawned second = spawn_to_files(parallel, spool.root(), s, "second");
  std::vector<Spawned*> seconds{&second};
  REQUIRE(reap_all(seconds, deadline_in(240s), "resumed parallel"));
  INFO("stderr: " << second.err_text());
  CHECK(second.exit_code == 0);
  // The front ends the killed parallel left behind still attach to their runs; their runs
  // end on their own. Every job is final and ran once.
  for (int i = 1; i <= 200; ++i) {
    REQUIRE(run_chaperone(spool, {"wait", "job-" + std::to_string(i)}).exit_code == 0);
  }
  std::map<std::string, int> runs;
  for (const std::string& line : lines_of(read_whole_file(ledger))) {
    ++runs[line];
  }
  CHECK(runs.size() == 200);
  for (const auto& [number, count] : runs) {
    INFO("job " << number);
    CHECK(count == 1);
  }
  CHECK(spool.run_ids().size() == 200);
}
