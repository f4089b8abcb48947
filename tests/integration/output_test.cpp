// tests/integration/output_test.cpp: every byte the program writes ends up, exactly, in the
// spool files and on the attached front end's stdout and stderr.
#include "tests/integration/common.hpp"

#include <memory>

using namespace chaperone::test;

TEST_CASE("100 MB of output arrive byte-exact in the spool file and on the attached stdout",
          "[integration][output]") {
  TempSpool spool;
  constexpr std::uint64_t k_bytes = 100ULL * 1024 * 1024 + 12345; // not a multiple of any chunk
  constexpr std::uint64_t k_seed = 100;
  PatternChecker attached(k_seed);
  RunOptions options;
  options.on_stdout = [&](std::string_view chunk) { attached.feed(chunk); };
  RunResult r = run_chaperone(
      spool,
      {"run", "--", writer(), "pattern", std::to_string(k_seed), std::to_string(k_bytes)},
      options);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out_bytes == k_bytes);
  CHECK(attached.offset() == k_bytes);
  CHECK(attached.first_mismatch() == std::nullopt);

  std::string id = spool.only_run_id();
  PatternChecker stored =
      check_file_against_pattern((spool.run_dir(id) / "stdout").string(), k_seed);
  CHECK(stored.offset() == k_bytes);
  CHECK(stored.first_mismatch() == std::nullopt);
  nlohmann::json st = spool.state(id);
  CHECK(st["output"]["stdout"] == k_bytes);
  CHECK(st["output"]["stderr"] == 0);
}

TEST_CASE("binary output with all 256 byte values passes through unchanged",
          "[integration][output]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", writer(), "allbytes"});
  REQUIRE(r.exit_code == 0);
  std::string up;
  std::string down;
  for (int i = 0; i < 256; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(255 - i));
  }
  CHECK(r.out == up + up + up + up);
  CHECK(r.err == down);
  std::string id = spool.only_run_id();
  CHECK(spool.output(id, "stdout") == r.out);
  CHECK(spool.output(id, "stderr") == down);
}

TEST_CASE("stdout and stderr are kept apart, in the spool and on the front end",
          "[integration][output]") {
  TempSpool spool;
  constexpr std::uint64_t k_out = 3 * 1024 * 1024 + 7;
  constexpr std::uint64_t k_err = 2 * 1024 * 1024 + 3;
  RunResult r = run_chaperone(
      spool,
      {"run", "--", writer(), "both", "1", std::to_string(k_out), "2", std::to_string(k_err)});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.size() == k_out);
  CHECK(r.err.size() == k_err);
  CHECK(r.out == pattern_bytes(1, 0, k_out));
  CHECK(r.err == pattern_bytes(2, 0, k_err));
  std::string id = spool.only_run_id();
  CHECK(spool.output(id, "stdout") == r.out);
  CHECK(spool.output(id, "stderr") == r.err);
  nlohmann::json st = spool.state(id);
  CHECK(st["output"]["stdout"] == k_out);
  CHECK(st["output"]["stderr"] == k_err);
}

TEST_CASE("50 runs at once each get exactly their own output", "[integration][output]") {
  TempSpool spool;
  constexpr int k_runs = 50;
  constexpr std::uint64_t k_bytes = 256 * 1024 + 1;
  std::vector<std::unique_ptr<ChaperoneProcess>> processes;
  for (int i = 0; i < k_runs; ++i) {
    processes.push_back(
        std::make_unique<ChaperoneProcess>(spool,
                                           std::vector<std::string>{"run",
                                                                    "--name",
                                                                    "many-" + std::to_string(i),
                                                                    "--",
                                                                    writer(),
                                                                    "both",
                                                                    std::to_string(1000 + i),
                                                                    std::to_string(k_bytes),
                                                                    std::to_string(2000 + i),
                                                                    std::to_string(k_bytes / 3)}));
  }
  for (int i = 0; i < k_runs; ++i) {
    INFO("run " << i);
    RunResult r = processes[i]->finish();
    CHECK(r.exit_code == 0);
    CHECK(r.out == pattern_bytes(1000 + i, 0, k_bytes));
    CHECK(r.err == pattern_bytes(2000 + i, 0, k_bytes / 3));
    std::string id = "many-" + std::to_string(i);
    CHECK(spool.output(id, "stdout") == r.out);
    CHECK(spool.output(id, "stderr") == r.err);
    CHECK(spool.state(id)["state"] == "exited");
  }
  CHECK(spool.run_ids().size() == k_runs);
}
