// tests/support/temp_spool.hpp: a fresh spool root per test, read as an outside tool would.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace chaperone::test {

// A private directory (mkdtemp, 0700) holding `root()` (the spool root, 0700, what
// CHAPERONE_SPOOL points at) and `scratch()` (test files: programs, stdin, gates), so files a
// test makes never show up in the spool listing. On destruction, runs still going are
// SIGKILLed (their program group and supervisor, checked against the recorded start times)
// and each one fails the test as a leak: a test ends or waits for every run it starts. The
// directory is then removed - unless the test failed, in which case it is kept and its path
// printed on stderr for a post-mortem.
class TempSpool {
public:
  TempSpool();
  TempSpool(const TempSpool&) = delete;
  TempSpool& operator=(const TempSpool&) = delete;
  TempSpool(TempSpool&&) = delete;
  TempSpool& operator=(TempSpool&&) = delete;
  ~TempSpool();

  const std::filesystem::path& base() const { return m_base; }
  const std::filesystem::path& root() const { return m_root; }
  const std::filesystem::path& scratch() const { return m_scratch; }

  std::filesystem::path run_dir(const std::string& run_id) const { return m_root / run_id; }
  // Run directories (names not starting with '.'), sorted.
  std::vector<std::string> run_ids() const;
  // Every entry of the root, hidden ones included, sorted: "nothing created half-way".
  std::vector<std::string> listing() const;
  // The one run's id; a Catch failure unless there is exactly one.
  std::string only_run_id() const;

  // state.json / spec.json parsed with nlohmann_json (throws if missing or not JSON).
  nlohmann::json state(const std::string& run_id) const;
  nlohmann::json spec(const std::string& run_id) const;
  // A stream file ("stdout" or "stderr") of a run, whole.
  std::string output(const std::string& run_id, const std::string& stream) const;
  std::uintmax_t output_size(const std::string& run_id, const std::string& stream) const;
  // Removes an ended run's directory as `rm -rf` would, once its supervisor has let go of
  // it: `run` and `wait` return when the final state is written, and the supervisor may
  // still be tidying the directory (its .state.reserve) for a moment after. Waits up to 30 s
  // for run_lock_free; a Catch failure if the supervisor never lets go.
  void remove_run(const std::string& run_id) const;

private:
  // SIGKILLs the runs still going; returns their ids.
  std::vector<std::string> end_leftover_runs() const;
  // SIGKILLs the callback senders (chaperone-callback RUN_DIR) of runs in this spool. Only
  // for a spool that is kept: removing it ends them (a sender stops once its run is gone),
  // keeping it would leave them retrying for the rest of the suite.
  void end_callback_senders() const;

  std::filesystem::path m_base;
  std::filesystem::path m_root;
  std::filesystem::path m_scratch;
  int m_uncaught_at_start;
};

// True once no process holds the flock on `run_dir`/lock: the run's supervisor has exited,
// not only written its final state (under load it may still be closing when `run` returns).
// A test that forges a non-final state.json or removes the run must wait for this.
bool run_lock_free(const std::filesystem::path& run_dir);

// Reads a whole file (throws std::runtime_error naming it).
std::string read_whole_file(const std::filesystem::path& path);
// Writes `data` to `path` with `mode` (throws std::runtime_error naming it).
void write_whole_file(const std::filesystem::path& path,
                      const std::string& data,
                      unsigned mode = 0600);

// True if any assertion of the current test case has failed so far (a Catch listener).
bool current_test_failed();

} // namespace chaperone::test
