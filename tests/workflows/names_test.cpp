// tests/workflows/names_test.cpp: named runs a script can simply run again
// (--attach-existing, --replace), and runs visible only once their supervisor holds them.
#include "tests/workflows/workflows_common.hpp"

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

TEST_CASE("100 callers racing run --name --attach-existing make exactly one run and all get "
          "its output and exit code",
          "[workflows][names]") {
  TempSpool spool;
  std::filesystem::path ledger = spool.scratch() / "ledger";
  std::vector<Spawned> callers;
  for (int i = 0; i < 100; ++i) {
    callers.push_back(spawn_chaperone({"run",
                                       "--name",
                                       "race",
                                       "--attach-existing",
                                       "--",
                                       "sh",
                                       "-c",
                                       "echo ran >> \"$1\"; echo out; exit 7",
                                       "job",
                                       ledger.string()},
                                      spool.root(),
                                      spool.scratch(),
                                      "caller" + std::to_string(i)));
  }
  std::vector<Spawned*> all;
  for (Spawned& caller : callers) {
    all.push_back(&caller);
  }
  REQUIRE(reap_all(all, deadline_in(120s), "100 racing callers"));
  for (Spawned& caller : callers) {
    INFO("stderr: " << caller.err_text());
    CHECK(caller.exit_code == 7);
    CHECK(caller.out_text() == "out\n");
  }
  CHECK(read_whole_file(ledger) == "ran\n"); // the program ran once
  CHECK(spool.run_ids() == std::vector<std::string>{"race"});
  for (const std::string& entry : spool.listing()) {
    CHECK((entry == "race" || entry == ".index.jsonl")); // no staged leftovers
  }
}

TEST_CASE("run --attach-existing on a final run replays its output and exits with its code",
          "[workflows][names]") {
  TempSpool spool;
  RunResult first =
      run_chaperone(spool, {"run", "--name", "n", "--", "sh", "-c", "echo a; echo b >&2; exit 3"});
  REQUIRE(first.exit_code == 3);
  RunResult again = run_chaperone(
      spool, {"run", "--name", "n", "--attach-existing", "--", "sh", "-c", "echo never; exit 0"});
  CHECK(again.exit_code == 3);
  CHECK(again.out == "a\n");
  CHECK(again.err == "b\n");
  CHECK(spool.run_ids() == std::vector<std::string>{"n"});
  RunResult plain = run_chaperone(spool, {"run", "--name", "n", "--", "true"});
  CHECK(plain.exit_code == 125);
  CHECK(plain.err.find("chaperone: run n already exists") == 0);
}

TEST_CASE("run --replace keeps the earlier final run as NAME@<end time> and refuses a live one",
          "[workflows][names]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "deploy", "--", "sh", "-c", "exit 4"}).exit_code
          == 4);
  RunResult second =
      run_chaperone(spool, {"run", "--name", "deploy", "--replace", "--", "sh", "-c", "echo new"});
  CHECK(second.exit_code == 0);
  std::vector<std::string> ids = spool.run_ids();
  REQUIRE(ids.size() == 2);
  std::string kept = ids[0] == "deploy" ? ids[1] : ids[0];
  CHECK(kept.rfind("deploy@", 0) == 0);
  CHECK(spool.state(kept).at("run_id") == kept);
  CHECK(spool.state(kept).at("replaced_name") == "deploy");
  CHECK(spool.state(kept).at("exit_code") == 4);
  CHECK(spool.output("deploy", "stdout") == "new\n");

  std::filesystem::path started = spool.scratch() / "started";
  std::filesystem::path release = spool.scratch() / "release";
  std::string live = start_detached(spool, held_program(started, release), {"--name", "live"});
  REQUIRE(wait_until(deadline_in(20s), "live run to start", [&] { return file_exists(started); }));
  RunResult refused = run_chaperone(spool, {"run", "--name", "live", "--replace", "--", "true"});
  CHECK(refused.exit_code == 125);
  CHECK(refused.err.find("chaperone: run live is still running") == 0);
  touch(release);
  CHECK(run_chaperone(spool, {"wait", "live"}).exit_code == 0);
}

TEST_CASE("run --attach-existing and --replace without --name are refused, nothing created",
          "[workflows][names]") {
  TempSpool spool;
  for (const char* flag : {"--attach-existing", "--replace"}) {
    RunResult r = run_chaperone(spool, {"run", flag, "--", "true"});
    CHECK(r.exit_code == 125);
    CHECK(r.err.find("needs --name") != std::string::npos);
  }
  CHECK(spool.listing().empty());
}
