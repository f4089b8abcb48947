// tests/integration/cli_json_test.cpp: --json for scripts (issue 14): run -d --json, status
// --json's run_dir, ls --json's new fields, kill --json, errors as one JSON object with a
// stable kind; and the ls COMMAND column quoted so a shell takes back the same argv.
#include "tests/integration/common.hpp"

#include <sys/wait.h>

#include <cstdio>

using namespace chaperone::test;

namespace {

nlohmann::json parse_json(const std::string& text) {
  INFO("JSON text: " << text);
  nlohmann::json parsed;
  REQUIRE_NOTHROW(parsed = nlohmann::json::parse(text));
  return parsed;
}

// Checks that `args` fails with 125, nothing on stdout, the spool unchanged, and exactly one
// line on stderr: a JSON object with `kind` and an error message naming `needle`.
void check_json_error(const TempSpool& spool,
                      const std::vector<std::string>& args,
                      const std::string& kind,
                      const std::string& needle) {
  std::vector<std::string> before = spool.listing();
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 125);
  CHECK(r.out.empty());
  REQUIRE(r.err_lines().size() == 1);
  nlohmann::json error = parse_json(r.err);
  CHECK(error.value("kind", "") == kind);
  CHECK(error.value("exit_code", 0) == 125);
  CHECK(error.value("error", "").find(needle) != std::string::npos);
  CHECK(spool.listing() == before);
}

} // namespace

TEST_CASE("run -d --json prints id, name and run_dir", "[integration][json]") {
  TempSpool spool;
  RunResult named = run_chaperone(spool, {"run", "-d", "--json", "--name", "n1", "--", "true"});
  INFO("stderr: " << named.err);
  REQUIRE(named.exit_code == 0);
  nlohmann::json out = parse_json(named.out);
  CHECK(out == nlohmann::json{{"id", "n1"}, {"name", "n1"}, {"run_dir", spool.run_dir("n1")}});
  RunResult unnamed = run_chaperone(spool, {"run", "-d", "--json", "--", "true"});
  REQUIRE(unnamed.exit_code == 0);
  nlohmann::json second = parse_json(unnamed.out);
  CHECK(second["name"].is_null());
  std::string id = second.value("id", "");
  CHECK(std::filesystem::is_directory(spool.run_dir(id)));
  CHECK(second.value("run_dir", "") == spool.run_dir(id).string());
  // Detached runs of `true` may still be starting; a test leaves no run behind.
  CHECK(run_chaperone(spool, {"wait", "n1", id}).exit_code == 0);
}

TEST_CASE("status --json carries the run dir", "[integration][json]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "s1", "--", "true"}).exit_code == 0);
  RunResult r = run_chaperone(spool, {"status", "--json", "s1"});
  REQUIRE(r.exit_code == 0);
  nlohmann::json status = parse_json(r.out);
  CHECK(status.value("run_dir", "") == spool.run_dir("s1").string());
  CHECK(status.value("state", "") == "exited");
}

TEST_CASE("ls --json gives cwd, target, output sizes, duration and run_dir, also from the index",
          "[integration][json]") {
  TempSpool spool;
  REQUIRE(
      run_chaperone(
          spool,
          {"run", "--name", "l1", "--cwd", "/tmp", "--", "sh", "-c", "printf abc; printf de >&2"})
          .exit_code
      == 0);
  // Twice: the first listing may read state.json, the second the index line of a final run.
  for (int pass = 0; pass < 2; ++pass) {
    RunResult r = run_chaperone(spool, {"ls", "--json"});
    REQUIRE(r.exit_code == 0);
    nlohmann::json rows = parse_json(r.out);
    REQUIRE(rows.size() == 1);
    const nlohmann::json& row = rows[0];
    INFO(row.dump(2));
    CHECK(row.value("cwd", "") == "/tmp");
    CHECK(row["target"] == nlohmann::json{{"mode", "local"}});
    CHECK(row["output"] == nlohmann::json{{"stdout", 3}, {"stderr", 2}});
    REQUIRE(row["duration_s"].is_number());
    CHECK(row["duration_s"].get<double>() >= 0);
    CHECK(row.value("run_dir", "") == spool.run_dir("l1").string());
  }
  CHECK(std::filesystem::exists(spool.root() / ".index.jsonl"));
}

TEST_CASE("kill --json reports the signals sent and the final state", "[integration][json]") {
  TempSpool spool;
  std::string id = start_detached(spool, {"sleep", "60"}, {"--name", "k1"});
  REQUIRE(wait_for_state(spool, id, {"running"}));
  RunResult r = run_chaperone(spool, {"kill", "--json", "k1"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json out = parse_json(r.out);
  CHECK(out
        == nlohmann::json{
            {"run_id", "k1"}, {"signals", {"SIGTERM"}}, {"state", "signaled"}, {"exit_code", 143}});
  check_json_error(spool, {"kill", "--json", "k1"}, "not_running", "already ended");
}

TEST_CASE("errors under --json are one JSON object with a stable kind", "[integration][json]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "abc-1", "--", "true"}).exit_code == 0);
  REQUIRE(run_chaperone(spool, {"run", "--name", "abc-2", "--", "true"}).exit_code == 0);
  check_json_error(spool, {"status", "--json", "nosuch"}, "no_such_run", "nosuch");
  check_json_error(spool, {"status", "--json", "abc"}, "ambiguous", "abc-1");
  check_json_error(spool, {"kill", "--json", "nosuch"}, "no_such_run", "nosuch");
  check_json_error(
      spool, {"run", "-d", "--json", "--name", "abc-1", "--", "true"}, "exists", "abc-1");
  check_json_error(spool, {"ls", "--json", "--bogus"}, "usage", "--bogus");
  check_json_error(spool, {"run", "--json", "--", "true"}, "usage", "--detach");
  check_json_error(spool, {"status", "--json", "../x"}, "usage", "../x");
  // A `--json` that belongs to the program is the program's: errors stay text.
  RunResult program_json = run_chaperone(spool, {"run", "--nope", "--", "x", "--json"});
  CHECK(program_json.exit_code == 125);
  CHECK(program_json.err.rfind("chaperone: ", 0) == 0);
}

TEST_CASE("ls shows the command quoted so that a shell takes back the same argv",
          "[integration][ls]") {
  // Bug: the COMMAND column joined argv with spaces, so `sh -c 'echo $A'` showed as
  // `sh -c echo $A`.
  TempSpool spool;
  std::vector<std::string> argv{"sh", "-c", "echo $A; : \"$1\"", "x", "it's", "tab\there", ""};
  std::vector<std::string> args{"run", "--name", "q1", "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  REQUIRE(run_chaperone(spool, args).exit_code == 0);
  RunResult r = run_chaperone(spool, {"ls"});
  REQUIRE(r.exit_code == 0);
  size_t row = r.out.find("\nq1 ");
  REQUIRE(row != std::string::npos);
  std::string line = r.out.substr(row + 1, r.out.find('\n', row + 1) - row - 1);
  size_t column = line.find("  sh ");
  REQUIRE(column != std::string::npos);
  std::string command = line.substr(column + 2);
  CHECK(command == "sh -c 'echo $A; : \"$1\"' x 'it'\\''s' $'tab\\x09here' ''");
  // bash reads it back into the same words (the line goes to bash as its $1, quoted).
  std::string quoted_command = "'";
  for (char c : command) {
    quoted_command += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  quoted_command += "'";
  std::string shell =
      "bash -c 'eval \"set -- $1\"; printf \"%s\\0\" \"$@\"' bash " + quoted_command;
  std::FILE* pipe = ::popen(shell.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string words;
  char buffer[256];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    words.append(buffer, n);
  }
  CHECK(::pclose(pipe) == 0);
  std::string expected;
  for (const std::string& word : argv) {
    expected += word + '\0';
  }
  CHECK(words == expected);
}
