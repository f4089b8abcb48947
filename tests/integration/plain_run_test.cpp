// tests/integration/plain_run_test.cpp: `run`'s common shapes are read without CLI11
// (run_plain_command in chaperone/cli/command_run.cpp). They must behave exactly as the same
// run read by the full parser, which a redundant option (--kill-after 10s, the default)
// forces; and every shape the short path does not take for certain must get the full
// parser's answer, refusals worded as before.
#include "tests/integration/common.hpp"

#include <set>

using namespace chaperone::test;

namespace {

const std::vector<std::string> k_program{
    "sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"};

std::vector<std::string> with_program(std::vector<std::string> args) {
  args.emplace_back("--");
  args.insert(args.end(), k_program.begin(), k_program.end());
  return args;
}

nlohmann::json stable_spec(nlohmann::json spec) {
  spec.erase("run_id");
  spec.erase("created");
  spec.erase("created_at");
  return spec;
}

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) {
    keys.insert(item.key());
  }
  return keys;
}

} // namespace

TEST_CASE("run's short-path shapes record and report exactly what the full parser's do",
          "[integration][cli]") {
  TempSpool spool;
  struct Pair {
    std::vector<std::string> plain;
    std::vector<std::string> full;
  };
  std::vector<Pair> pairs{
      {{"run"}, {"run", "--kill-after", "10s"}},
      {{"run", "--name", "plain-a"}, {"run", "--kill-after", "10s", "--name", "full-a"}},
      {{"run", "--name=plain-b"}, {"run", "--name=full-b", "--kill-after", "10s"}},
  };
  for (const Pair& pair : pairs) {
    RunResult plain = run_chaperone(spool, with_program(pair.plain));
    RunResult full = run_chaperone(spool, with_program(pair.full));
    INFO("plain stderr: " << plain.err << "\nfull stderr: " << full.err);
    CHECK(plain.exit_code == 3);
    CHECK(full.exit_code == plain.exit_code);
    CHECK(plain.out == "out\n");
    CHECK(full.out == plain.out);
    CHECK(plain.err == "err\n");
    CHECK(full.err == plain.err);
  }
  std::vector<std::string> ids = spool.run_ids();
  REQUIRE(ids.size() == 6);
  // Named runs: the names themselves; unnamed: the two generated ids.
  std::vector<std::string> unnamed;
  for (const std::string& id : ids) {
    if (id.find("plain-") == std::string::npos && id.find("full-") == std::string::npos) {
      unnamed.push_back(id);
    }
  }
  REQUIRE(unnamed.size() == 2);
  std::vector<std::pair<std::string, std::string>> compared{
      {unnamed[0], unnamed[1]}, {"plain-a", "full-a"}, {"plain-b", "full-b"}};
  for (const auto& [a, b] : compared) {
    INFO(a << " vs " << b);
    nlohmann::json state_a = spool.state(a);
    nlohmann::json state_b = spool.state(b);
    CHECK(state_a.value("state", "") == "exited");
    nlohmann::json same_a = comparable_state(state_a);
    nlohmann::json same_b = comparable_state(state_b);
    same_a.erase("run_id");
    same_b.erase("run_id");
    CHECK(same_a == same_b);
    CHECK(stable_spec(spool.spec(a)) == stable_spec(spool.spec(b)));
  }
}

TEST_CASE("run -d and run -d --json on the short path print what the full parser's print",
          "[integration][cli]") {
  TempSpool spool;
  RunResult plain = run_chaperone(spool, {"run", "-d", "--json", "--name", "j1", "--", "true"});
  RunResult full = run_chaperone(
      spool, {"run", "--kill-after", "10s", "--detach", "--json", "--name", "j2", "--", "true"});
  INFO("plain: " << plain.out << plain.err << "\nfull: " << full.out << full.err);
  REQUIRE(plain.exit_code == 0);
  REQUIRE(full.exit_code == 0);
  CHECK(plain.err.empty());
  CHECK(full.err.empty());
  nlohmann::json a = nlohmann::json::parse(plain.out);
  nlohmann::json b = nlohmann::json::parse(full.out);
  CHECK(keys_of(a) == keys_of(b));
  CHECK(a.at("id") == "j1");
  CHECK(a.at("name") == "j1");
  CHECK(a.at("run_dir") == (spool.root() / "j1").string());
  CHECK(b.at("run_dir") == (spool.root() / "j2").string());

  std::string id = start_detached(spool, {"true"}); // `run -d -- true`: the id alone
  CHECK(id.find('\n') == std::string::npos);
  CHECK(std::filesystem::is_directory(spool.run_dir(id)));
  CHECK(wait_for_state(spool, id, {"exited"}));
}

TEST_CASE("run --spool DIR on the short path puts the run in DIR as the full parser does",
          "[integration][cli]") {
  TempSpool spool;
  std::filesystem::path a = spool.scratch() / "spool-a";
  std::filesystem::path b = spool.scratch() / "spool-b";
  RunResult plain =
      run_chaperone(spool, {"run", "--spool", a.string(), "--name", "p", "--", "true"});
  RunResult equals =
      run_chaperone(spool, {"run", "--name", "q", "--spool=" + a.string(), "--", "true"});
  RunResult full = run_chaperone(spool,
                                 {"run",
                                  "--kill-after",
                                  "10s",
                                  "--spool",
                                  b.string(),
                                  "--name",
                                  "f",
                                  "--",
                                  "sh",
                                  "-c",
                                  "exit 4"});
  INFO(plain.err << equals.err << full.err);
  CHECK(plain.exit_code == 0);
  CHECK(equals.exit_code == 0);
  CHECK(full.exit_code == 4);
  CHECK(std::filesystem::exists(a / "p" / "state.json"));
  CHECK(std::filesystem::exists(a / "q" / "state.json"));
  CHECK(std::filesystem::exists(b / "f" / "state.json"));
  CHECK(spool.run_ids().empty()); // nothing in the spool of the environment
}

TEST_CASE("shapes the short path does not take get the full parser's answers",
          "[integration][cli][bad-input]") {
  TempSpool spool;
  struct Refusal {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Refusal> refusals{
      {{"run", "--name=x1", "--name=x2", "--", "true"}, "--name: At Most 1"},
      {{"run", "--name", "x1", "--name", "x2", "--", "true"}, "--name: At Most 1"},
      {{"run", "--name", "-d", "--", "true"}, "must not start with '-'"},
      {{"run", "--name=", "--", "true"}, "--name"},
      {{"run", "--name", "", "--", "true"}, "--name"},
      {{"run", "--name", "a/b", "--", "true"}, "--name"},
      {{"run", "--json", "--", "true"}, "--json requires --detach"},
      {{"run", "-d", "--"}, "program"},
      {{"run", "--name", "x3"}, "program"},
      {{"run", "--spool", "", "--", "true"}, "--spool"},
      {{"run", "--spool=", "--", "true"}, "--spool"},
      {{"run", "--spool", "/tmp/a", "--spool", "/tmp/b", "--", "true"}, "--spool"},
  };
  for (const Refusal& refusal : refusals) {
    std::vector<std::string> before = spool.listing();
    RunResult r = run_chaperone(spool, refusal.args);
    std::string shown;
    for (const std::string& arg : refusal.args) {
      shown += " [" + arg + "]";
    }
    INFO("chaperone" << shown << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 125);
    CHECK(r.err_lines().size() == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find(refusal.needle) != std::string::npos); // --json: as a JSON line
    CHECK(spool.listing() == before);
  }
  // A repeated -d is one -d for CLI11's flags, and so for the short path's fallback.
  RunResult twice = run_chaperone(spool, {"run", "-d", "-d", "--", "true"});
  INFO("stderr: " << twice.err);
  REQUIRE(twice.exit_code == 0);
  REQUIRE(twice.out.size() > 1);
  CHECK(wait_for_state(spool, twice.out.substr(0, twice.out.size() - 1), {"exited"}));
}
