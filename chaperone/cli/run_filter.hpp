// chaperone/cli/run_filter.hpp: which runs `ls` and `gc` look at (--state, --name, times).
#pragma once

#include "spool/host.hpp"
#include "spool/spool_root.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
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
};

// The time a listed run is placed at: its start, else its end, else (not started yet) now.
spool::SystemTime row_time(const nlohmann::json& row);

// Summaries (spool/run_index.hpp summarize()) of every run in the root, newest first, lost
// supervisors resolved; a damaged run is a row with state "damaged".
std::vector<nlohmann::json> collect_rows(const spool::SpoolRoot& root);

} // namespace chaperone
