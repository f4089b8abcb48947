// spool/run_index.hpp: a per-spool cache of final runs' summaries, so that listing many runs
// reads one file instead of every state.json.
#pragma once

#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"
#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace chaperone::spool {

// <root>/.index.jsonl: one JSON line per run that became final, appended (one write(2) on
// an O_APPEND fd, so concurrent supervisors never interleave) right after its final
// state.json. It is only a cache: state.json stays the truth. A line counts only while the
// run's directory still has the inode the line records, so a deleted-and-reused name never
// shows a stale summary. Deleting the file loses nothing.
constexpr const char* k_index_file = ".index.jsonl";

// The summary of a state, as listed by `ls`: run_id, state, exit_code, return_code, signal,
// start_time, end_time, error, command (argv quoted for a shell, cut after ~200 bytes), target,
// cwd, output {stdout, stderr} (bytes), duration_s (null before the start), waiting_for.
nlohmann::json summarize(const RunState& state);

// Appends the summary of `state` (which must be final) for `run`, whose state.json is about
// to become `state_size` bytes with mtime `state_mtime_ns`. Called before that state.json is
// renamed into place, so anyone who sees the final state also finds the line. Errors are
// swallowed: the index is an optimisation and must never fail a run.
void append_to_index(const RunDir& run,
                     const RunState& state,
                     std::uint64_t state_size,
                     std::int64_t state_mtime_ns) noexcept;

// (clang-tidy flags its implicit special members through nlohmann::json; nothing here throws
// beyond what json itself may.)
struct IndexedRun { // NOLINT(bugprone-exception-escape)
  ino_t dir_inode = 0;
  // state.json as it was when indexed: a later change (damage, a hand edit) makes the
  // summary stale, and the reader falls back to state.json.
  std::uint64_t state_size = 0;
  std::int64_t state_mtime_ns = 0;
  // spec.json likewise (written once, before the run was visible), so that a damaged
  // spec.json shows too. Absent in lines written before it was recorded: not checked then.
  std::optional<std::uint64_t> spec_size;
  std::optional<std::int64_t> spec_mtime_ns;
  nlohmann::json summary;
};

// True if `run`'s state.json (and spec.json, where recorded) still have the size and mtime
// recorded in `indexed`.
bool index_entry_current(const RunDir& run, const IndexedRun& indexed);

// Reads the index (missing: empty). Unparseable lines (a torn write after a crash) are
// skipped; a later line for the same id wins.
std::unordered_map<std::string, IndexedRun> read_index(const SpoolRoot& root);

} // namespace chaperone::spool
