// tests/integration/options_test.cpp: --cwd, --env and --stdin reach the program.
#include "tests/integration/common.hpp"

using namespace chaperone::test;

TEST_CASE("the --cwd option runs the program in that directory", "[integration][options]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--cwd", spool.scratch().string(), "--", "pwd"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == spool.scratch().string() + "\n");
}

TEST_CASE("the --env option sets and overrides variables in the program's environment",
          "[integration][options]") {
  TempSpool spool;
  RunOptions options;
  options.env = {"CHAPERONE_TEST_OLD=old", "CHAPERONE_TEST_KEEP=kept"};
  RunResult r = run_chaperone(spool,
                              {"run",
                               "--env",
                               "CHAPERONE_TEST_NEW=a b=c",
                               "--env",
                               "CHAPERONE_TEST_OLD=new",
                               "--",
                               "sh",
                               "-c",
                               "printf '%s|%s|%s' \"$CHAPERONE_TEST_NEW\" \"$CHAPERONE_TEST_OLD\" "
                               "\"$CHAPERONE_TEST_KEEP\""},
                              options);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "a b=c|new|kept");
  // spec.json keeps the names, not the values (unless --record-env).
  nlohmann::json spec = spool.spec(spool.only_run_id());
  CHECK(spec.dump().find("a b=c") == std::string::npos);
}

TEST_CASE("the --stdin option feeds a file to the program, and the default stdin is empty",
          "[integration][options]") {
  TempSpool spool;
  std::filesystem::path input = spool.scratch() / "input";
  std::string data = pattern_bytes(5, 0, 100000);
  write_whole_file(input, data);
  RunResult r = run_chaperone(spool, {"run", "--stdin", input.string(), "--", "cat"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == data);
  RunResult none = run_chaperone(spool, {"run", "--", "cat"}, within(20s));
  CHECK(none.exit_code == 0);
  CHECK(none.out.empty());
}

TEST_CASE("the --name option gives the run that id and prefixes of ids find runs",
          "[integration][options]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "build.v1@host+x_y-z", "--", "true"}).exit_code
          == 0);
  CHECK(spool.run_ids() == std::vector<std::string>{"build.v1@host+x_y-z"});
  CHECK(run_chaperone(spool, {"wait", "build.v1"}).exit_code == 0);
  REQUIRE(run_chaperone(spool, {"run", "--", "sh", "-c", "exit 3"}).exit_code == 3);
  std::string generated;
  for (const std::string& id : spool.run_ids()) {
    if (id != "build.v1@host+x_y-z") {
      generated = id;
    }
  }
  CHECK(run_chaperone(spool, {"wait", generated.substr(0, generated.size() - 3)}).exit_code == 3);
}

TEST_CASE("options --env and -o given before -- leave the program's own dash arguments to it",
          "[integration][options][regression]") {
  // CLI11 ends a multi-value option's list at `--`, after which `-c` was parsed as ours:
  // `run --env A=1 -- sh -c ...` failed with "The following argument was not expected: -c".
  TempSpool spool;
  RunResult r = run_chaperone(
      spool,
      {"run", "--env", "A=1", "--env", "B=2", "--", "sh", "-c", "echo \"$A$B\" \"$0\"", "-x"});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "12 -x\n");
  RunResult o = run_chaperone(
      spool, {"run", "--env", "A=3", "-o", "ConnectTimeout=5", "--", "sh", "-c", "echo $A"});
  INFO("stderr: " << o.err);
  CHECK(o.exit_code == 0);
  CHECK(o.out == "3\n");
}
