// spool/run_index.hpp: a per-spool cache of final runs' summaries, so that listing many runs
// reads one file instead of every state.json.
#pragma once

#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"
#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::spool {

// <root>/.index.jsonl: one JSON line per run that became final, appended (one write(2) on
// an O_APPEND fd, so concurrent supervisors never interleave) right after its final
// state.json. It is only a cache: state.json stays the truth. A line counts only while the
// run's directory still has the inode the line records and its state.json and spec.json
// still have the size and mtime (ns, set explicitly by each write) recorded, so a
// deleted-and-reused name, a hand edit or damage never shows a stale summary. Deleting the file
// loses nothing.
//
// Version 2 lines (written now) are JSON arrays of a fixed shape, read without a JSON
// library (the hot path of `ls` at 100,000 runs):
//   [2,"CHECK",DIR_INO,STATE_SIZE,STATE_MTIME_NS,SPEC_SIZE,SPEC_MTIME_NS,
//    "RUN_ID","STATE",EXIT_CODE,"START"|null,"END"|null,DURATION_S|null,"COMMAND",{REST}]
// CHECK is a 64-bit hash (16 hex digits) of everything after it: a line damaged in place is
// ignored. REST holds the other summary fields, parsed only for `ls --json`. Version 1 lines
// (JSON objects, written before) are still read.
constexpr const char* k_index_file = ".index.jsonl";

// The summary of a state, as listed by `ls`: run_id, state, exit_code, return_code, signal,
// start_time, end_time, error, command (argv quoted for a shell, cut after ~200 bytes), target,
// cwd, output {stdout, stderr} (bytes), duration_s (null before the start), waiting_for.
nlohmann::json summarize(const RunState& state);

// What makes a line current: the run's directory, state.json and spec.json as they were when
// it was written.
struct IndexKeys {
  ino_t dir_inode = 0;
  std::uint64_t state_size = 0;
  std::int64_t state_mtime_ns = 0;
  std::optional<std::uint64_t> spec_size; // absent in early version 1 lines: not checked
  std::int64_t spec_mtime_ns = 0;
};

// One version 2 line (with its '\n') for the summary of a final run.
std::string index_line(const nlohmann::json& summary, const IndexKeys& keys);

// Appends the summary of `state` (which must be final) for `run`, whose state.json is about
// to become `state_size` bytes with mtime `state_mtime_ns`. Called
// before that state.json is renamed into place, so anyone who sees the final state also finds
// the line. Errors are swallowed: the index is an optimisation and must never fail a run.
void append_to_index(const RunDir& run,
                     const RunState& state,
                     std::uint64_t state_size,
                     std::int64_t state_mtime_ns) noexcept;

// Rewrites the index with only the lines of runs in `keep` (gc, after removing runs), so
// that it does not grow forever. A line a supervisor appends meanwhile may be lost: that run
// is then read in full by the next `ls`, which indexes it again. Errors ignored.
void compact_index(const SpoolRoot& root, const std::vector<std::string>& keep) noexcept;

// Appends whole lines (index_line) in one write; errors swallowed (a read-only spool).
void append_index_lines(const std::filesystem::path& root, const std::string& lines) noexcept;

// A run as the index has it. The views point into IndexFile's buffer (or its arena).
struct IndexedRun {
  IndexKeys keys;
  std::string_view run_id;
  std::string_view state;
  std::optional<int> exit_code;
  std::string_view start_time; // empty: null
  std::string_view end_time;
  std::optional<double> duration_s;
  std::string_view command;
  // Version 2: the REST object's text; version 1: empty, and `summary` holds everything.
  std::string_view rest;
  std::optional<nlohmann::json> summary;
  std::string_view line; // the whole line, without its '\n'

  // The whole summary (as summarize() made it); nullopt if REST does not parse.
  std::optional<nlohmann::json> to_summary() const;
};

class IndexFile {
public:
  // Reads <root>/.index.jsonl (missing or unreadable: empty). Lines that do not parse or
  // whose check fails (a torn write, damage) are skipped; a later line for an id wins.
  static IndexFile read(const SpoolRoot& root);
  // Parses `text` as the file's content (tests).
  static IndexFile parse(std::string text);

  IndexFile() = default;
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;
  IndexFile(IndexFile&&) = default;
  IndexFile& operator=(IndexFile&&) = default;
  ~IndexFile() = default;

  const IndexedRun* find(std::string_view run_id) const;
  // The runs read, the last line of each id.
  const std::vector<IndexedRun>& runs() const { return m_runs; }
  size_t size() const { return m_runs.size(); }
  size_t lines() const { return m_lines; }

private:
  void insert(IndexedRun run);
  void grow(); // doubles m_slots (at least 16) and puts m_runs back in

  std::string m_text;
  std::deque<std::string> m_arena; // decoded strings that had escapes
  std::vector<IndexedRun> m_runs;
  // Open addressing over m_runs (high half: the id's hash; low half: index + 1, 0 is empty),
  // a power of two at least twice the runs: one probe, mostly, no node per run, and a
  // mismatch seldom touches m_runs (std::unordered_map cost more than all the parsing at
  // 100,000 runs).
  std::vector<std::uint64_t> m_slots;
  size_t m_lines = 0;
};

} // namespace chaperone::spool
