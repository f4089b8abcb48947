// tests/integration/cli_test.cpp: what the README promises about the command line itself,
// through the built binary: `cmd` (JSON, -0, U+FFFD with its warning), --version, --help,
// -v/-vv, duration and size syntax, and the default spool root from XDG_STATE_HOME and HOME.
#include "tests/integration/common.hpp"

#include <sys/stat.h>

#include <regex>

using namespace chaperone::test;

namespace {

// A spool-less environment: CHAPERONE_SPOOL empty (as if unset), XDG_STATE_HOME and HOME given.
RunOptions default_root_options(const std::string& xdg, const std::string& home) {
  RunOptions options;
  options.spool_value = "";
  options.env = {"XDG_STATE_HOME=" + xdg, "HOME=" + home};
  return options;
}

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t nul = text.find('\0'); nul != std::string::npos; nul = text.find('\0', start)) {
    parts.push_back(text.substr(start, nul - start));
    start = nul + 1;
  }
  CHECK(start == text.size()); // every word ends in a NUL, nothing trails
  return parts;
}

} // namespace

TEST_CASE("cmd prints the argv run would execute as one JSON array", "[integration][cli]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"cmd", "--", "printf", "%s\\n", "a b", "", "é", "[x]"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  REQUIRE(!r.out.empty());
  CHECK(r.out.back() == '\n');
  CHECK(r.out.find('\n') == r.out.size() - 1); // one line
  nlohmann::json argv = nlohmann::json::parse(r.out);
  CHECK(argv == nlohmann::json{"printf", "%s\\n", "a b", "", "é", "[x]"});
  CHECK(spool.listing().empty()); // cmd runs nothing and creates nothing
}

TEST_CASE("cmd shows the ssh argv for a remote target", "[integration][cli]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"cmd", "--host", "build7", "--login", "ci", "--", "make"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json argv = nlohmann::json::parse(r.out);
  REQUIRE(argv.is_array());
  REQUIRE(argv.size() > 3);
  CHECK(argv[0] == "ssh");
  CHECK(r.out.find("build7") != std::string::npos);
  CHECK(r.out.find("BatchMode=yes") != std::string::npos);
}

TEST_CASE("cmd -0 prints the exact argv bytes, NUL-separated", "[integration][cli]") {
  TempSpool spool;
  std::string invalid_utf8 = "caf\xe9";
  std::vector<std::string> program{"echo", invalid_utf8, "two words", "", "\n"};
  std::vector<std::string> args{"cmd", "-0", "--"};
  args.insert(args.end(), program.begin(), program.end());
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty()); // no warning: these are the exact bytes
  CHECK(split_nul(r.out) == program);
}

TEST_CASE("cmd shows invalid UTF-8 as U+FFFD and warns once, pointing at -0",
          "[integration][cli]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"cmd", "--", "echo", "caf\xe9", "ok"});
  REQUIRE(r.exit_code == 0);
  nlohmann::json argv = nlohmann::json::parse(r.out);
  CHECK(argv == nlohmann::json{"echo", "caf\xef\xbf\xbd", "ok"}); // U+FFFD in UTF-8
  std::vector<std::string> lines = r.err_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("chaperone: ", 0) == 0);
  CHECK(lines[0].find("U+FFFD") != std::string::npos);
  CHECK(lines[0].find("cmd -0") != std::string::npos);
}

TEST_CASE("chaperone --version prints the version and exits 0", "[integration][cli]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(std::regex_match(r.out, std::regex("chaperone [0-9]+\\.[0-9]+\\.[0-9]+\n")));
  CHECK(spool.listing().empty());
}

TEST_CASE("chaperone --help lists every command, and each command's --help its options",
          "[integration][cli]") {
  TempSpool spool;
  RunResult top = run_chaperone(spool, {"--help"});
  CHECK(top.exit_code == 0);
  for (const char* command : {"run", "attach", "tail", "wait", "status", "ls", "kill", "cmd"}) {
    INFO(command);
    CHECK(std::regex_search(top.out, std::regex(std::string("\n +") + command + " ")));
  }
  CHECK(top.out.find("--version") != std::string::npos);
  CHECK(top.out.find("-v,--verbose") != std::string::npos);

  RunResult run = run_chaperone(spool, {"run", "--help"});
  CHECK(run.exit_code == 0);
  for (const char* option : {"--name",
                             "--cwd",
                             "--env",
                             "--record-env",
                             "--stdin",
                             "--timeout",
                             "--kill-after",
                             "--keep-children",
                             "--max-output",
                             "--max-output-action",
                             "--host",
                             "--port",
                             "--login",
                             "--sudo-user",
                             "--mode",
                             "--identity",
                             "--ssh-option",
                             "--control-path",
                             "--detach"}) {
    INFO(option);
    CHECK(run.out.find(option) != std::string::npos);
  }
  RunResult kill = run_chaperone(spool, {"kill", "--help"});
  CHECK(kill.exit_code == 0);
  CHECK(kill.out.find("--grace") != std::string::npos);
  RunResult cmd = run_chaperone(spool, {"cmd", "--help"});
  CHECK(cmd.exit_code == 0);
  CHECK(cmd.out.find("-0,--null") != std::string::npos);
  CHECK(spool.listing().empty());
}

TEST_CASE("chaperone -v logs what the front end does on stderr, and without it a run is quiet",
          "[integration][cli]") {
  TempSpool spool;
  RunResult quiet = run_chaperone(spool, {"run", "--", "true"});
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  std::string flag = GENERATE(std::string("-v"), std::string("-vv"), std::string("--verbose"));
  CAPTURE(flag);
  RunResult loud = run_chaperone(spool, {flag, "run", "--", "true"});
  CHECK(loud.exit_code == 0);
  CHECK(loud.out.empty());
  // "chaperone: run <id> supervisor pid=<n>", the id being the run just made.
  std::smatch match;
  REQUIRE(std::regex_search(
      loud.err,
      match,
      std::regex("^chaperone: run ([^ ]+) supervisor pid=([0-9]+)$", std::regex::multiline)));
  nlohmann::json state = spool.state(match[1].str());
  CHECK(state["state"] == "exited");
  CHECK(std::to_string(state["supervisor_pid"].get<int>()) == match[2].str());
}

TEST_CASE("durations work through the binary as the unit tests parse them", "[integration][cli]") {
  TempSpool spool;
  // Other forms than the unit test's table: this checks the wiring, that one the parser.
  auto [text, ms] = GENERATE(table<std::string, long long>({
      {"1m30s", 90'000},
      {"2h", 7'200'000},
      {"0.5s", 500},
      {"1d", 86'400'000},
      {"100ms", 100},
      {"3", 3'000},
  }));
  CAPTURE(text);
  RunResult r = run_chaperone(
      spool, {"run", "--name", "t", "--timeout", text, "--kill-after", text, "--", "true"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json spec = spool.spec("t");
  CHECK(spec["config"]["timeout_ms"] == ms);
  CHECK(spec["config"]["kill_after_ms"] == ms);
  spool.remove_run("t");
}

TEST_CASE("a --timeout in milliseconds ends the run then", "[integration][cli]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--timeout", "700ms", "--", "sleep", "100"});
  CHECK(r.exit_code == 124);
  CHECK(r.elapsed >= 700ms);
  CHECK(r.elapsed < 10s);
  CHECK(spool.state(spool.only_run_id())["state"] == "timed_out");
}

TEST_CASE("run --max-output sizes with suffixes cap each stream at that many bytes",
          "[integration][cli]") {
  TempSpool spool;
  auto [text, bytes] = GENERATE(table<std::string, std::uint64_t>({
      {"1000", 1000},
      {"1K", 1024},
      {"3k", 3072},
      {"2KiB", 2048},
  }));
  CAPTURE(text);
  RunResult r = run_chaperone(
      spool, {"run", "--name", "m", "--max-output", text, "--", writer(), "pattern", "7", "10000"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == pattern_bytes(7, 0, bytes));
  CHECK(spool.output_size("m", "stdout") == bytes);
  CHECK(spool.spec("m")["config"]["max_output"] == bytes);
  spool.remove_run("m");
}

TEST_CASE("malformed durations and sizes are refused with 125, one line, nothing created",
          "[integration][cli][bad-input]") {
  TempSpool spool;
  auto [option, value] = GENERATE(table<std::string, std::string>({
      {"--timeout", "5x"},
      {"--timeout", "-5s"},
      {"--timeout", "0"},
      {"--kill-after", "soon"},
      {"--max-output", "10MB"},
      {"--max-output", "1.5M"},
      {"--max-output", "99999999999999999999"},
  }));
  CAPTURE(option, value);
  RunResult r = run_chaperone(spool, {"run", option, value, "--", "true"});
  CHECK(r.exit_code == 125);
  CHECK(r.out.empty());
  std::vector<std::string> lines = r.err_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("chaperone: ", 0) == 0);
  CHECK(lines[0].find(option) != std::string::npos);
  CHECK(spool.listing().empty());
}

TEST_CASE("without CHAPERONE_SPOOL the root is $XDG_STATE_HOME/chaperone/spool",
          "[integration][cli][spool-root]") {
  TempSpool spool;
  std::filesystem::path xdg = spool.scratch() / "xdg";
  std::filesystem::path home = spool.scratch() / "home";
  RunOptions options = default_root_options(xdg.string(), home.string());
  RunResult r = run_chaperone(spool, {"run", "--name", "here", "--", "echo", "hi"}, options);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "hi\n");
  std::filesystem::path root = xdg / "chaperone" / "spool";
  CHECK(std::filesystem::is_directory(root / "here"));
  struct stat st {};
  REQUIRE(::stat(root.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  CHECK_FALSE(std::filesystem::exists(home)); // HOME is not used when XDG_STATE_HOME is set
  CHECK(spool.listing().empty());
  RunResult ls = run_chaperone(spool, {"status", "here"}, options);
  CHECK(ls.exit_code == 0);
  CHECK(ls.out.find("exited") != std::string::npos);
}

TEST_CASE("without CHAPERONE_SPOOL and XDG_STATE_HOME the root is under $HOME",
          "[integration][cli][spool-root]") {
  TempSpool spool;
  std::filesystem::path home = spool.scratch() / "home";
  std::filesystem::create_directory(home);
  RunOptions options = default_root_options("", home.string());
  RunResult r = run_chaperone(spool, {"run", "--name", "here", "--", "echo", "hi"}, options);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::filesystem::path root = home / ".local" / "state" / "chaperone" / "spool";
  CHECK(std::filesystem::is_directory(root / "here"));
  CHECK(run_chaperone(spool, {"wait", "here"}, options).exit_code == 0);
  CHECK(spool.listing().empty());
}

TEST_CASE("with no CHAPERONE_SPOOL, XDG_STATE_HOME or HOME, run refuses with 125",
          "[integration][cli][spool-root][bad-input]") {
  TempSpool spool;
  RunOptions options = default_root_options("", "");
  RunResult r = run_chaperone(spool, {"run", "--", "true"}, options);
  CHECK(r.exit_code == 125);
  REQUIRE(r.err_lines().size() == 1);
  CHECK(r.err.find("no spool root") != std::string::npos);
  CHECK(spool.listing().empty());
}
