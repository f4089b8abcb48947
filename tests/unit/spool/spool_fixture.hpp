// tests/unit/spool/spool_fixture.hpp: a real run directory in a TempSpool for unit tests.
#pragma once

#include "spool/host.hpp"
#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"
#include "tests/support/temp_spool.hpp"

#include <unistd.h>

#include <optional>
#include <string>

namespace chaperone::test {

// A run created with create_run, its state `running` with this test process as its
// "supervisor" (pid, start ticks, lock held), as the real supervisor records it.
struct FixtureRun {
  spool::RunDir dir;
  std::optional<spool::FileLock> lock;
};

inline spool::RunState running_state(const std::string& id) {
  spool::RunState state;
  state.run_id = id;
  state.state = spool::RunStatus::running;
  state.boot_id = spool::boot_id();
  state.supervisor_pid = ::getpid();
  state.supervisor_start_ticks = spool::process_start_ticks(::getpid());
  state.start_time = spool::format_utc(std::chrono::system_clock::now());
  return state;
}

inline FixtureRun make_run(const TempSpool& spool, const std::string& id) {
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  spool::NewRun created =
      spool::create_run(root, id, nlohmann::json{{"run_id", id}}, running_state(id));
  return FixtureRun{created.dir, std::move(created.lock)};
}

// Marks the run final (exited 0) with its files' current sizes as the recorded lengths.
inline void finish_run(const spool::RunDir& run) {
  spool::RunState state = run.read_state();
  state.state = spool::RunStatus::exited;
  state.return_code = 0;
  state.exit_code = 0;
  state.stdout_bytes = std::filesystem::file_size(run.stream_path(spool::Stream::out));
  state.stderr_bytes = std::filesystem::file_size(run.stream_path(spool::Stream::err));
  state.end_time = spool::format_utc(std::chrono::system_clock::now());
  run.write_state(state);
}

} // namespace chaperone::test
