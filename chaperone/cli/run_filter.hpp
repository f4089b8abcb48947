// chaperone/cli/run_filter.hpp: which runs `ls` and `gc` look at (--state, --name, times).
#pragma once

#include "spool/host.hpp"
#include "spool/run_index.hpp"
#include "spool/spool_root.hpp"

#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone {

// A time bound from the command line: a duration back from `now` ("3d", "90m", "1h30m") or
// an ISO 8601 UTC time ("2026-12-01", "2026-12-01T22:00:00Z", with or without fraction).
// Throws std::invalid_argument naming `option` and the text.
spool::SystemTime
parse_time_bound(const std::string& option, const std::string& text, spool::SystemTime now);

struct RunFilter {
  std::vector<std::string> states; // empty: any; "final" stands for every final state
  std::string name_glob;           // fnmatch(3) on the run id; empty: any
  std::optional<spool::SystemTime> since;
  std::optional<spool::SystemTime> until;

  // Throws std::invalid_argument for an unknown state name.
  void check_states() const;
  bool matches(const nlohmann::json& row) const;
  // The same on the fields a filter looks at (empty time: none).
  bool matches(std::string_view state,
               std::string_view run_id,
               std::string_view start_time,
               std::string_view end_time) const;
};

// The time a listed run is placed at: its start, else its end, else (not started yet) now.
spool::SystemTime row_time(const nlohmann::json& row);
spool::SystemTime row_time(std::string_view start_time, std::string_view end_time);

// One run as `ls` lists it: the fields its text line, filters and order need, as views into
// the index (final runs whose line is current) or into `summary` (read from its own files).
struct ListedRun {
  std::string_view run_id;
  std::string_view state;
  std::string_view start_time; // empty: none
  std::string_view end_time;
  std::string_view command; // the error for a damaged run
  std::optional<int> exit_code;
  std::optional<double> duration_s; // set for indexed (final) runs only
  const spool::IndexedRun* indexed = nullptr;
  const nlohmann::json* summary = nullptr; // the rest: not from the index

  // The whole summary, as summarize() makes it (a damaged run: run_id, state, error).
  nlohmann::json to_summary(const spool::SpoolRoot& root) const;
};

// Every run in the root, newest first, lost supervisors resolved. Costs one fstatat of
// state.json and of spec.json per final run that the index has (no JSON parsing); others are
// read in full, and the final ones among them are added to the index for the next time.
struct Listing {
  spool::IndexFile index;
  std::deque<nlohmann::json> summaries;
  std::deque<std::string> strings;
  std::vector<ListedRun> runs;
  unsigned threads = 1; // that stat the runs (scan_runs)
};
std::unique_ptr<Listing> list_for_ls(const spool::SpoolRoot& root);

// Summaries (spool/run_index.hpp summarize()) of every run in the root, newest first, lost
// supervisors resolved; a damaged run is a row with state "damaged".
std::vector<nlohmann::json> collect_rows(const spool::SpoolRoot& root);

} // namespace chaperone
