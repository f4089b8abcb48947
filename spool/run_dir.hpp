// spool/run_dir.hpp: one run's directory: its files, its state, and whether it is alive.
#pragma once

#include "spool/fd.hpp"
#include "spool/file_lock.hpp"
#include "spool/release_later.hpp"
#include "spool/spool_root.hpp"
#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace chaperone::spool {

// The two output streams. (Not "stdout"/"stderr": those are macros in <cstdio>.)
enum class Stream { out, err };

constexpr const char* k_spec_file = "spec.json";
constexpr const char* k_state_file = "state.json";
constexpr const char* k_stdout_file = "stdout";
constexpr const char* k_stderr_file = "stderr";
constexpr const char* k_lock_file = "lock";
constexpr const char* k_log_file = "supervisor.log";
// Space held back so that the final state can still be written when the program has filled
// the file system: removed (freeing its blocks) only when a state write hits ENOSPC. Its
// blocks are preallocated past its end (size 0), so that the final state written into it
// has its length without a cut (fill_staged_run).
constexpr const char* k_reserve_file = ".state.reserve";
constexpr size_t k_reserve_bytes = size_t{64} * 1024;

class RunDir {
public:
  RunDir(std::filesystem::path path, std::string run_id)
      : m_path(std::move(path)), m_run_id(std::move(run_id)) {}

  const std::filesystem::path& path() const { return m_path; }
  const std::string& run_id() const { return m_run_id; }
  std::filesystem::path file(const char* name) const { return m_path / name; }
  std::filesystem::path stream_path(Stream stream) const {
    return file(stream == Stream::out ? k_stdout_file : k_stderr_file);
  }

  // Reads state.json. Throws std::runtime_error "run ID: state.json: <why>" if it is
  // missing, unreadable, not JSON or not a state (a damaged run).
  RunState read_state() const;
  // Reads spec.json; throws like read_state (also if it is JSON but not an object).
  nlohmann::json read_spec() const;
  // Replaces state.json atomically (AtomicFile); a final state also durably, with spec.json
  // made durable at the same time as the state's temp file, before the rename. On ENOSPC it gives
  // up the run's space reserve and tries once more, noting "spool_disk_full" in the state.
  // With `later` (the supervisor's), no block is freed on the way: the state replaced is
  // kept open and the reserve's unused tail kept allocated until later->release().
  void write_state(const RunState& state, ReleaseLater* later = nullptr) const;
  // fsync()s spec.json, which the launch writes without one; a missing spec is left alone.
  // write_state() does it before any final state becomes visible.
  void sync_spec() const;
  // Makes what the launch wrote without an fsync durable now: spec.json, and the run's own
  // entry in the spool root (the publication's rename). A final write_state() through this
  // RunDir then syncs only the state and the run dir: one fsync after the other, with no
  // helper thread for a second one at the same time. For the supervisor, while its program
  // runs; false (and nothing remembered) if an fsync failed: the final state does it then.
  bool make_launch_durable() noexcept;

  // The stream file's current length (fstat): the live size while the run is not final,
  // when state.json's output counts are not kept up to date. Throws std::system_error
  // naming the file.
  std::uint64_t stream_size(Stream stream) const;

  // True while some process (the supervisor, or the front end before the hand-off) holds
  // the run's lock.
  bool supervisor_alive() const;

  // Reads the state; if it is not final and nobody holds the lock, the supervisor died
  // without recording an end: rewrites the state as `lost` (while holding the lock, so two
  // readers cannot race) and returns that. Output lengths become the files' current sizes.
  RunState read_state_resolving_lost() const;

private:
  // spec.json opened read-only for an fsync; an invalid Fd if it is missing.
  Fd open_spec_for_sync() const;

  std::filesystem::path m_path;
  std::string m_run_id;
  bool m_launch_durable = false; // make_launch_durable() succeeded
};

// A run that records a far side (state.json `far`: a durable remote run) is held by the far
// chaperone, not by its local supervisor, which only mirrors it. When that local follower is
// gone, the run is not lost: a hook installed by the client (chaperone/client/far_client.hpp)
// is handed the free lock and starts a new follower, returning true. Without a hook (or if it
// returns false) the run is recorded `lost` like any other.
using ReviveHook = std::function<bool(const RunDir& run, const RunState& state, FileLock& lock)>;
void set_revive_hook(ReviveHook hook);

struct NewRun {
  RunDir dir;
  FileLock lock; // held LOCK_EX; hand it to the supervisor
};

// A run built in a hidden temp dir of the root, not yet visible under its id.
struct StagedRun {
  std::filesystem::path staged_path; // <root>/.<id>.XXXXXX
  RunDir dir;                        // where it will live once published
  FileLock lock;                     // held LOCK_EX; hand it to the supervisor
};

// The first step of stage_run: the hidden temp dir and its lock, held. A supervisor can be
// started with the lock from here on, while fill_staged_run writes the rest.
StagedRun begin_staged_run(const SpoolRoot& root, const std::string& run_id);

// The rest of stage_run. Throws std::system_error naming the failing call; the caller
// discards the staged run then.
void fill_staged_run(const StagedRun& staged,
                     const nlohmann::json& spec,
                     const RunState& initial_state,
                     const std::vector<std::pair<std::string, std::string>>& extra_files = {});

// Builds a run in a hidden temp dir (spec.json, state.json, empty stdout and stderr, lock
// held). Throws std::system_error naming the failing call; nothing is left behind.
// `extra_files` (name, content) are created 0600 (and fsynced) in the run before it is
// published, so a reader never sees the run without them.
StagedRun stage_run(const SpoolRoot& root,
                    const std::string& run_id,
                    const nlohmann::json& spec,
                    const RunState& initial_state,
                    const std::vector<std::pair<std::string, std::string>>& extra_files = {});

// Renames a staged run into place with RENAME_NOREPLACE, so readers never see a half-made
// run and two runs never share an id. Returns false (the staged dir is left for the caller
// to discard) if the id exists; throws std::system_error on any other failure.
bool publish_run(const StagedRun& staged);

// Removes a staged run that was not published (errors ignored: gc sweeps what is left).
void discard_staged_run(const StagedRun& staged) noexcept;

// stage_run + publish_run. Throws std::system_error with EEXIST ("run ID already exists")
// on a clash, or naming the failing call; nothing is left behind.
NewRun create_run(const SpoolRoot& root,
                  const std::string& run_id,
                  const nlohmann::json& spec,
                  const RunState& initial_state,
                  const std::vector<std::pair<std::string, std::string>>& extra_files = {});

} // namespace chaperone::spool
