// tests/faults/limits_test.cpp: --max-output (drop and stop) and `kill --grace` escalation on a
// program that ignores SIGTERM.
#include "tests/faults/faults_common.hpp"

#include <signal.h>

#include <sstream>

using namespace chaperone::test;
using namespace chaperone::test::faults;

TEST_CASE("max-output drop keeps the first bytes of each stream, lets the run finish and says so",
          "[faults][integration][limits]") {
  TempSpool spool;
  constexpr unsigned k_lines = 10000; // 120000 bytes of stdout
  constexpr unsigned k_chunk = 100;   // 100 stderr lines, ~700 bytes: under the limit
  std::vector<std::string> args{"run", "--name", "dropper", "--max-output", "10000", "--"};
  for (const std::string& a : seq_program(k_lines, 3, k_chunk, 0, true)) {
    args.push_back(a);
  }
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 3);
  std::string want = seq_stdout(k_lines);
  CHECK(r.out == want.substr(0, 10000));
  CHECK(spool.output("dropper", "stdout") == want.substr(0, 10000));
  CHECK(spool.output("dropper", "stderr") == seq_stderr(k_lines, k_chunk));
  nlohmann::json st = spool.state("dropper");
  INFO("state " << st.dump());
  CHECK(st["state"] == "exited");
  CHECK(st["exit_code"] == 3);
  CHECK(st["output"]["stdout"] == 10000);
  CHECK(st["output_limit"]["stdout_dropped"] == want.size() - 10000);
  CHECK(st["output_limit"]["exceeded"] == "stdout");
  CHECK(st["output_limit"]["action"] == "drop");
  CHECK_FALSE(st["output_limit"].contains("stderr_dropped"));
  RunResult a = run_chaperone(spool, {"attach", "dropper"});
  CHECK(a.exit_code == 3);
  CHECK(a.out == want.substr(0, 10000));
}

TEST_CASE("max-output stop ends the run at the limit: failed, 125, nothing left running",
          "[faults][integration][limits]") {
  TempSpool spool;
  // A slow, endless writer that leaves a background child: both must go.
  std::filesystem::path bg_file = spool.scratch() / "bg";
  std::string script = "sleep 1000 & echo $! > " + bg_file.string() + "; exec \"$@\"";
  std::vector<std::string> args{"run",
                                "--name",
                                "stopper",
                                "--max-output",
                                "5000",
                                "--max-output-action",
                                "stop",
                                "--kill-after",
                                "2s",
                                "--",
                                "sh",
                                "-c",
                                script,
                                "sh"};
  for (const std::string& a : seq_program(1000000, 0, 10, 2000, false)) {
    args.push_back(a);
  }
  RunResult r = run_chaperone(spool, args, [] {
    RunOptions o;
    o.deadline = 30s;
    return o;
  }());
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 125);
  nlohmann::json st = spool.state("stopper");
  INFO("state " << st.dump());
  CHECK(st["state"] == "failed");
  CHECK(st["exit_code"] == 125);
  CHECK(st["error"].get<std::string>().find("output limit") != std::string::npos);
  CHECK(st["output_limit"]["action"] == "stop");
  std::string out = spool.output("stopper", "stdout");
  CHECK(out.size() == 5000);
  CHECK(out == seq_stdout(1000000).substr(0, 5000));
  CHECK(r.out == out);
  auto ticks = st["pid_start_ticks"].is_number()
                   ? std::optional<std::uint64_t>(st["pid_start_ticks"].get<std::uint64_t>())
                   : std::nullopt;
  CHECK_FALSE(process_running(st["pid"].get<pid_t>(), ticks));
  pid_t bg = std::stoi(read_whole_file(bg_file));
  CHECK_FALSE(process_running(bg));
}

TEST_CASE("kill --grace escalates to SIGKILL for a program that ignores SIGTERM",
          "[faults][integration][limits]") {
  TempSpool spool;
  RunResult d = run_chaperone(spool,
                              {"run",
                               "-d",
                               "--name",
                               "stubborn",
                               "--",
                               "sh",
                               "-c",
                               "trap '' TERM; echo ready; while :; do sleep 1; done"});
  REQUIRE(d.exit_code == 0);
  REQUIRE(wait_until(deadline_in(20s), "ready", [&] {
    return spool.state("stubborn")["state"] == "running"
           && spool.output("stubborn", "stdout") == "ready\n";
  }));
  pid_t pid = spool.state("stubborn")["pid"].get<pid_t>();
  auto ticks = process_start_ticks(pid);
  RunResult k = run_chaperone(spool, {"kill", "--grace", "500ms", "stubborn"});
  INFO("kill stderr: " << k.err);
  CHECK(k.exit_code == 0);
  CHECK(k.elapsed >= 500ms);
  CHECK(k.elapsed < 10s);
  CHECK(k.err_lines().size() == 1);
  CHECK(k.err.find("SIGKILL") != std::string::npos);
  // kill returns once the end is recorded.
  nlohmann::json st = spool.state("stubborn");
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == SIGKILL);
  CHECK(st["exit_code"] == 128 + SIGKILL);
  CHECK_FALSE(process_running(pid, ticks));
  CHECK(run_chaperone(spool, {"wait", "stubborn"}).exit_code == 137);

  // A program that does end on TERM is not escalated: no warning, signaled 15.
  REQUIRE(run_chaperone(spool, {"run", "-d", "--name", "meek", "--", "sleep", "1000"}).exit_code
          == 0);
  RunResult k2 = run_chaperone(spool, {"kill", "--grace", "5s", "meek"});
  CHECK(k2.exit_code == 0);
  CHECK(k2.err.empty());
  CHECK(k2.elapsed < 5s);
  CHECK(spool.state("meek")["signal"] == SIGTERM);
}
