// tests/faults/faults_common.hpp: helpers for the tests that break things on purpose: many
// front ends at once (posix_spawn, output to files, no pipes to poll), the expected bytes of
// fault_helper's `seq`, a dedicated unprivileged user, and counts for the log.
#pragma once

#include "tests/support/harness.hpp"
#include "tests/support/process_info.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace chaperone::test::faults {

using namespace std::chrono_literals;

inline std::string helper() {
  return CHAPERONE_FAULT_HELPER;
}

// argv of `fault_helper seq N CODE CHUNK PAUSE_US ERR`.
std::vector<std::string>
seq_program(unsigned n, int code, unsigned chunk, unsigned pause_us, bool err);
// What that program writes on stdout and (with ERR) stderr when nothing stops it.
std::string seq_stdout(unsigned n);
std::string seq_stderr(unsigned n, unsigned chunk);

// A process started with posix_spawn: chaperone ARGS (or any argv), stdout and stderr to
// files, stdin from /dev/null, CHAPERONE_SPOOL set. Not reaped until wait/try_reap.
struct Spawned {
  pid_t pid = -1;
  std::filesystem::path out;
  std::filesystem::path err;
  std::optional<int> exit_code; // set once reaped: status, or 128+N for signal N
  std::optional<int> signal;

  std::string out_text() const { return read_whole_file(out); }
  std::string err_text() const { return read_whole_file(err); }
};

// `argv` run with CHAPERONE_SPOOL=spool_root; output into dir/<tag>.out and .err.
Spawned spawn_to_files(const std::vector<std::string>& argv,
                       const std::filesystem::path& spool_root,
                       const std::filesystem::path& dir,
                       const std::string& tag);
// `chaperone ARGS...` the same way.
Spawned spawn_chaperone(const std::vector<std::string>& args,
                        const std::filesystem::path& spool_root,
                        const std::filesystem::path& dir,
                        const std::string& tag,
                        const std::vector<std::string>& prefix = {});
// Reaps it if it has exited; true once reaped.
bool try_reap(Spawned& p);
// Reaps all of them, SIGKILLing what is left at the deadline (a Catch failure naming `what`).
bool reap_all(std::vector<Spawned*> ps, Clock::time_point deadline, const std::string& what);

// The uid/gid of the dedicated unprivileged test user (created with useradd if missing).
struct TestUser {
  uid_t uid;
  gid_t gid;
};
TestUser ensure_test_user(const char* name = "chapino");
// Hands a TempSpool's base, root and scratch to `user`, so that user can run chaperone on it.
void give_spool_to(const TempSpool& spool, const TestUser& user);
// argv prefix that runs the rest as `user` (fault_helper as-user UID GID).
std::vector<std::string> as_user(const TestUser& user);

// Pids of chaperone-supervisor processes (held ones too, as chaperone-hold) for `run_dir`.
std::vector<pid_t> supervisors_of(const std::filesystem::path& run_dir);

// Live processes (not zombies) whose environment holds the entry `name_value` ("NAME=VALUE"):
// how a test finds every process of a run, recorded or not, when it passed --env to it.
std::vector<pid_t> processes_with_env(const std::string& name_value);

// Every file and directory under `dir` (recursive), sorted, as paths relative to `dir`.
std::vector<std::string> tree(const std::filesystem::path& dir);

// "[a] [b]" for messages.
std::string shown(const std::vector<std::string>& args);

} // namespace chaperone::test::faults
