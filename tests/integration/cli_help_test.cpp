// tests/integration/cli_help_test.cpp: help that teaches (issue 14): did-you-mean for commands
// and long options, the missing `--` hint, words in the order typed, exit codes and
// environment in every command's help, an example in `chaperone --help`; and --spool.
#include "tests/integration/common.hpp"

#include <fstream>

using namespace chaperone::test;

namespace {

// Runs `args` and checks a refusal: 125, no stdout, one "chaperone: " line holding every one
// of `needles`, and nothing created in the spool.
void check_teaches(const TempSpool& spool,
                   const std::vector<std::string>& args,
                   const std::vector<std::string>& needles) {
  std::vector<std::string> before = spool.listing();
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 125);
  CHECK(r.out.empty());
  CHECK(r.err_lines().size() == 1);
  CHECK(r.err.rfind("chaperone: ", 0) == 0);
  for (const std::string& needle : needles) {
    CHECK(r.err.find(needle) != std::string::npos);
  }
  CHECK(spool.listing() == before);
}

} // namespace

TEST_CASE("a mistyped command gets a did-you-mean", "[integration][help]") {
  TempSpool spool;
  check_teaches(spool, {"runn", "--", "true"}, {"\"runn\"", "did you mean \"run\""});
  check_teaches(spool, {"stauts", "x"}, {"did you mean \"status\""});
  check_teaches(spool, {"atach", "x"}, {"did you mean \"attach\""});
}

TEST_CASE("a mistyped long option gets a did-you-mean", "[integration][help]") {
  TempSpool spool;
  check_teaches(spool, {"run", "--nmae", "x", "--", "true"}, {"--nmae", "did you mean --name?"});
  check_teaches(spool, {"kill", "--grase", "1s", "x"}, {"did you mean --grace?"});
  check_teaches(spool, {"ls", "--jsno"}, {"did you mean --json?"});
}

TEST_CASE("a program's options taken for chaperone's bring a hint to put -- before it",
          "[integration][help]") {
  TempSpool spool;
  check_teaches(spool,
                {"run", "ls", "-la"},
                {"-la", "put -- before the program: chaperone run [options] -- ls -la"});
  check_teaches(spool,
                {"run", "--name", "x", "grep", "-r", "pattern"},
                {"chaperone run [options] -- grep -r pattern"});
  check_teaches(spool, {"cmd", "ls", "-l"}, {"chaperone cmd [options] -- ls -l"});
}

TEST_CASE("unexpected words are named in the order they were typed", "[integration][help]") {
  // Bug (CLI11 2.1's ExtrasError joins them in reverse): `ls --state running` answered
  // "The following arguments were not expected: running --state".
  TempSpool spool;
  check_teaches(spool, {"ls", "--bogus", "running"}, {"--bogus running"});
  check_teaches(spool, {"--no-such-option"}, {"--no-such-option"});
}

TEST_CASE("every command's help names its exit codes and the environment it reads",
          "[integration][help]") {
  TempSpool spool;
  for (const char* command : {"run", "attach", "tail", "wait", "status", "ls", "kill"}) {
    RunResult r = run_chaperone(spool, {command, "--help"});
    INFO("chaperone " << command << " --help:\n" << r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Exit codes") != std::string::npos);
    CHECK(r.out.find("125") != std::string::npos);
    CHECK(r.out.find("CHAPERONE_SPOOL") != std::string::npos);
    CHECK(r.out.find("--spool") != std::string::npos);
  }
  RunResult run_help = run_chaperone(spool, {"run", "--help"});
  for (const char* code : {"124", "126/127", "128+N", "129/141", "255"}) {
    CHECK(run_help.out.find(code) != std::string::npos);
  }
}

TEST_CASE("chaperone --help shows a five-line example", "[integration][help]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"--help"});
  CHECK(r.exit_code == 0);
  size_t example = r.out.find("Example:\n");
  REQUIRE(example != std::string::npos);
  std::istringstream lines(r.out.substr(example + 9));
  std::string line;
  int commands = 0;
  while (std::getline(lines, line) && !line.empty()) {
    CHECK(line.find("chaperone ") != std::string::npos);
    ++commands;
  }
  CHECK(commands == 5);
}

TEST_CASE("the --spool option wins over CHAPERONE_SPOOL, before or after the command",
          "[integration][spool-option]") {
  TempSpool spool;
  TempSpool other;
  std::string other_root = other.root().string();
  RunResult started = run_chaperone(
      spool, {"run", "-d", "--spool", other_root, "--name", "elsewhere", "--", "true"});
  INFO("stderr: " << started.err);
  REQUIRE(started.exit_code == 0);
  CHECK(spool.run_ids().empty());
  CHECK(other.run_ids() == std::vector<std::string>{"elsewhere"});
  CHECK(run_chaperone(spool, {"--spool", other_root, "wait", "elsewhere"}).exit_code == 0);
  CHECK(run_chaperone(spool, {"status", "--spool", other_root, "elsewhere"}).exit_code == 0);
  RunResult listed = run_chaperone(spool, {"ls", "--spool", other_root});
  CHECK(listed.out.find("elsewhere") != std::string::npos);
  // Without it, CHAPERONE_SPOOL is used, which does not have the run.
  CHECK(run_chaperone(spool, {"status", "elsewhere"}).exit_code == 125);
  // A relative --spool is taken from the current directory.
  RunOptions in_base;
  in_base.wrapper = {"env", "-C", other.base().string()};
  RunResult relative = run_chaperone(
      spool, {"status", "--spool", other.root().filename().string(), "elsewhere"}, in_base);
  INFO("relative: " << relative.err);
  CHECK(relative.exit_code == 0);
}

TEST_CASE("an empty spool option is refused and creates nothing", "[integration][spool-option]") {
  TempSpool spool;
  check_teaches(spool, {"run", "--spool", "", "--", "true"}, {"--spool"});
  check_teaches(spool, {"--spool", "", "ls"}, {"--spool"});
}
