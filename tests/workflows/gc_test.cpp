// tests/workflows/gc_test.cpp: `gc` removes old final runs only, never a live one, also
// while runs start and end around it; it sweeps hidden leftovers nobody holds.
#include "tests/workflows/workflows_common.hpp"

#include <cstdlib>
#include <set>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

TEST_CASE("gc under concurrent runs never removes a live one", "[workflows][gc]") {
  TempSpool spool;
  auto s = spool.scratch();
  std::vector<std::string> live;
  for (int i = 0; i < 10; ++i) {
    live.push_back(start_detached(spool,
                                  held_program(s / ("l" + std::to_string(i)), s / "release"),
                                  {"--name", "live" + std::to_string(i)}));
  }
  // Runs that start and end while gc works: a shell making 60 short runs.
  Spawned churn = spawn_to_files({"/bin/sh",
                                  "-c",
                                  "for i in $(seq 1 60); do \"$0\" run --name \"c$i\" -- echo "
                                  "\"$i\" >/dev/null || exit 1; done",
                                  chaperone_path()},
                                 spool.root(),
                                 s,
                                 "churn");
  int passes = 0;
  while (!try_reap(churn)) {
    RunResult gc = run_chaperone(spool, {"gc"});
    REQUIRE(gc.exit_code == 0);
    ++passes;
    for (const std::string& id : live) {
      REQUIRE(std::filesystem::exists(spool.run_dir(id) / "state.json"));
    }
  }
  REQUIRE(churn.exit_code == 0);
  INFO("gc passes during the churn: " << passes);
  CHECK(passes >= 2);
  RunResult last = run_chaperone(spool, {"gc"});
  CHECK(last.exit_code == 0);
  std::set<std::string> left;
  for (const std::string& id : spool.run_ids()) {
    left.insert(id);
  }
  std::set<std::string> expected(live.begin(), live.end());
  CHECK(left == expected); // every final run went, every live one stayed
  touch(s / "release");
  for (const std::string& id : live) {
    CHECK(run_chaperone(spool, {"wait", id}).exit_code == 0);
  }
}

TEST_CASE("gc --older-than, --keep, --state, --dry-run and --prune-output", "[workflows][gc]") {
  TempSpool spool;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(run_chaperone(spool,
                          {"run",
                           "--name",
                           "r" + std::to_string(i),
                           "--",
                           "sh",
                           "-c",
                           "echo output; exit " + std::to_string(i % 2)})
                .exit_code
            == i % 2);
  }
  CHECK(run_chaperone(spool, {"gc", "--older-than", "1h"}).out.find("removed 0,") == 0);
  RunResult dry = run_chaperone(spool, {"gc", "--dry-run"});
  CHECK(dry.out.find("would remove r0") != std::string::npos);
  CHECK(spool.run_ids().size() == 4);
  RunResult pruned =
      run_chaperone(spool, {"gc", "--prune-output", "--state", "exited", "--keep", "1"});
  CHECK(pruned.exit_code == 0);
  CHECK(spool.run_ids().size() == 4);
  CHECK(spool.output("r3", "stdout") == "output\n"); // the newest kept whole
  CHECK(spool.output("r0", "stdout").empty());
  // The earlier states a run keeps go too; the newest run keeps them.
  CHECK_FALSE(std::filesystem::exists(spool.run_dir("r0") / ".state.replaced.1"));
  CHECK_FALSE(std::filesystem::exists(spool.run_dir("r0") / ".state.replaced.2"));
  CHECK(std::filesystem::exists(spool.run_dir("r3") / ".state.replaced.2"));
  CHECK(spool.state("r0").at("output_pruned").at("stdout") == 7);
  CHECK(spool.state("r0").at("output").at("stdout") == 0);
  CHECK(run_chaperone(spool, {"attach", "r0"}).exit_code == 0); // a pruned run still reads
  RunResult removed = run_chaperone(spool, {"gc", "--keep", "2"});
  CHECK(removed.exit_code == 0);
  CHECK(spool.run_ids() == std::vector<std::string>{"r2", "r3"});
  RunResult bad = run_chaperone(spool, {"gc", "--state", "running"});
  CHECK(bad.exit_code == 125);
  CHECK(bad.err.find("chaperone: --state running: gc removes final runs only") == 0);
}

TEST_CASE("gc sweeps a hidden temp dir nobody holds and leaves .locks alone", "[workflows][gc]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--lock", "x", "--", "true"}).exit_code == 0);
  std::filesystem::path staged = spool.root() / ".killed.AbC123";
  std::filesystem::create_directory(staged);
  touch(staged / "lock");
  // Older than gc's grace for dirs that may still be being filled.
  REQUIRE(std::system(("touch -d '2 minutes ago' " + staged.string()).c_str()) == 0);
  RunResult gc = run_chaperone(spool, {"gc", "--older-than", "1h"});
  CHECK(gc.out.find("swept .killed.AbC123") != std::string::npos);
  CHECK(!file_exists(staged));
  CHECK(file_exists(spool.root() / ".locks" / "lock" / "x"));
}
