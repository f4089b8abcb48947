// tests/integration/exit_code_test.cpp: the front end exits as the program did (DESIGN.md
// "Exit codes of the CLI"), and state.json records why.
#include "tests/integration/common.hpp"

#include <sys/stat.h>

using namespace chaperone::test;

TEST_CASE("a program that exits 0 makes the front end exit 0 and the run exited",
          "[integration][exit]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "true"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "exited");
  CHECK(st["return_code"] == 0);
  CHECK(st["exit_code"] == 0);
  CHECK(st["signal"].is_null());
  CHECK(st["error"].is_null());
}

TEST_CASE("a program's own exit codes 1 and 42 come back from the front end",
          "[integration][exit]") {
  int code = GENERATE(1, 42, 255);
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "sh", "-c", "exit " + std::to_string(code)});
  CHECK(r.exit_code == code);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "exited");
  CHECK(st["return_code"] == code);
  CHECK(st["exit_code"] == code);
}

TEST_CASE("a program killed by SIGKILL makes the front end exit with 137", "[integration][exit]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "sh", "-c", "kill -KILL $$"});
  CHECK(r.exit_code == 137);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == 9);
  CHECK(st["exit_code"] == 137);
  CHECK(st["return_code"].is_null());
}

TEST_CASE("a program killed by SIGTERM makes the front end exit with 143", "[integration][exit]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "sh", "-c", "kill -TERM $$"});
  CHECK(r.exit_code == 143);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == 15);
}

TEST_CASE("a program that is not found gives 127 and a failed run naming it",
          "[integration][exit]") {
  std::string program = GENERATE(std::string("/nonexistent/chaperone-no-such-program"),
                                 std::string("chaperone-no-such-program-in-path"));
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", program, "arg"});
  CHECK(r.exit_code == 127);
  INFO("stderr: " << r.err);
  CHECK(r.err_lines().size() == 1);
  CHECK(r.err.find(program) != std::string::npos);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "failed");
  CHECK(st["exit_code"] == 127);
  REQUIRE(st["error"].is_string());
  CHECK(st["error"].get<std::string>().find("not found") != std::string::npos);
}

TEST_CASE("a program that is not executable gives 126 and a failed run", "[integration][exit]") {
  bool directory = GENERATE(false, true);
  TempSpool spool;
  // Root can read anything but still cannot exec a file without an x bit, nor a directory.
  std::filesystem::path plain = spool.scratch() / "not-executable.sh";
  write_whole_file(plain, "#!/bin/sh\necho hi\n", 0644);
  std::string program = directory ? spool.scratch().string() : plain.string();
  RunResult r = run_chaperone(spool, {"run", "--", program});
  CHECK(r.exit_code == 126);
  INFO("stderr: " << r.err);
  CHECK(r.err_lines().size() == 1);
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["state"] == "failed");
  CHECK(st["exit_code"] == 126);
}

TEST_CASE("a finished run records pids, times, rusage and output counts", "[integration][exit]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "sh", "-c", "printf abc; printf defgh >&2"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "abc");
  CHECK(r.err == "defgh");
  nlohmann::json st = spool.state(spool.only_run_id());
  CHECK(st["pid"].is_number());
  CHECK(st["pgid"] == st["pid"]);
  CHECK(st["supervisor_pid"].is_number());
  CHECK(st["output"]["stdout"] == 3);
  CHECK(st["output"]["stderr"] == 5);
  REQUIRE(st["start_time"].is_string());
  REQUIRE(st["end_time"].is_string());
  // ISO 8601 UTC with microseconds: 2026-11-25T19:26:33.123456Z
  CHECK(st["start_time"].get<std::string>().size() == 27);
  CHECK(st["start_time"].get<std::string>().back() == 'Z');
  CHECK(st["start_time"].get<std::string>() <= st["end_time"].get<std::string>());
  REQUIRE(st["rusage"].is_object());
  CHECK(st["rusage"].contains("utime"));
  CHECK(st["rusage"].contains("stime"));
  CHECK(st["rusage"]["maxrss_kib"].get<long>() > 0);
}
