// tests/support/harness.hpp: driving the built `chaperone` binary as a user would.
#pragma once

#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::test {

using namespace std::chrono_literals;

// Path of the chaperone front end under test (the build's own, never a PATH lookup).
const char* chaperone_path();

struct RunOptions {
  // The whole call must end by then; past it the front end is SIGKILLed and the test fails.
  std::chrono::milliseconds deadline = 60s;
  // Extra NAME=VALUE entries for the front end's environment (which is ours otherwise, with
  // CHAPERONE_SPOOL set to the TempSpool's root).
  std::vector<std::string> env;
  // Use this CHAPERONE_SPOOL value instead of the TempSpool's root (bad-root tests).
  std::optional<std::string> spool_value;
  // Run the front end through this wrapper argv (e.g. unshare ... --), searched in PATH.
  std::vector<std::string> wrapper;
  // If set, stdout is handed here chunk by chunk and not kept in RunResult::out (100 MB runs).
  std::function<void(std::string_view)> on_stdout;
  std::string stdin_path = "/dev/null";
};

struct RunResult {
  int exit_code = -1;        // the front end's exit status, or 128+N if a signal N killed it
  std::optional<int> signal; // the signal that killed the front end, if one did
  std::string out;
  std::string err;
  std::uint64_t out_bytes = 0; // all stdout bytes, also when streamed to on_stdout
  bool deadline_missed = false;
  std::chrono::milliseconds elapsed{0};

  // stderr split into lines (no trailing empty line).
  std::vector<std::string> err_lines() const;
};

// One running front end (spawned with Boost.Process, stdout and stderr on pipes), for tests
// that act while it runs: read until a condition, send it a signal, then finish().
// The test binaries that use it stay single-threaded while spawning: Boost.Process v1 forks.
class ChaperoneProcess {
public:
  ChaperoneProcess(const TempSpool& spool, std::vector<std::string> args, RunOptions options = {});
  ChaperoneProcess(const ChaperoneProcess&) = delete;
  ChaperoneProcess& operator=(const ChaperoneProcess&) = delete;
  ChaperoneProcess(ChaperoneProcess&&) = delete;
  ChaperoneProcess& operator=(ChaperoneProcess&&) = delete;
  // SIGKILLs and reaps the front end if it still runs.
  ~ChaperoneProcess();

  pid_t pid() const;
  const std::string& out() const;
  const std::string& err() const;
  std::uint64_t out_bytes() const;

  // Reads output as it comes until `pred()` holds. Returns false (and records a Catch
  // failure naming `what`) on the deadline, or if the front end exits first.
  bool read_until(Clock::time_point deadline,
                  const std::string& what,
                  const std::function<bool()>& pred);
  void send_signal(int signum);
  // Reads to EOF and reaps; past the options' deadline SIGKILLs it and fails the test.
  RunResult finish();

private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

// Runs `chaperone ARGS...` with CHAPERONE_SPOOL=spool.root() to completion.
RunResult
run_chaperone(const TempSpool& spool, std::vector<std::string> args, RunOptions options = {});

} // namespace chaperone::test
