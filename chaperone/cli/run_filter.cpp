// chaperone/cli/run_filter.cpp: see run_filter.hpp.
#include "chaperone/cli/run_filter.hpp"

#include "chaperone/cli/duration.hpp"
#include "spool/run_index.hpp"
#include "spool/run_list.hpp"
#include "spool/state.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <stdexcept>

namespace chaperone {

namespace {

std::string text(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

spool::SystemTime
parse_time_bound(const std::string& option, const std::string& text_value, spool::SystemTime now) {
  if (auto ago = parse_duration(text_value)) {
    return now - *ago;
  }
  std::string iso = text_value;
  if (iso.size() == 10) {
    iso += "T00:00:00";
  }
  if (!iso.empty() && iso.back() == 'Z') {
    iso.pop_back();
  }
  if (iso.find('.') == std::string::npos) {
    iso += ".000000";
  }
  if (auto time = spool::parse_utc(iso + "Z")) {
    return *time;
  }
  throw std::invalid_argument(option + " \"" + text_value
                              + "\": expected a duration back from now (3d, 90m) or a UTC time "
                                "(2026-12-01, 2026-12-01T22:00:00Z)");
}

void RunFilter::check_states() const {
  for (const std::string& state : states) {
    if (state != "final" && state != "damaged" && !spool::parse_run_status(state)) {
      throw std::invalid_argument(
          "--state \"" + state
          + "\": expected starting, waiting, running, exited, signaled, timed_out, failed, lost, "
            "skipped, damaged or final");
    }
  }
}

spool::SystemTime row_time(const nlohmann::json& row) {
  for (const char* key : {"start_time", "end_time"}) {
    if (auto time = spool::parse_utc(text(row, key))) {
      return *time;
    }
  }
  return std::chrono::system_clock::now();
}

bool RunFilter::matches(const nlohmann::json& row) const {
  if (!states.empty()) {
    std::string state = text(row, "state");
    auto status = spool::parse_run_status(state);
    bool wanted = false;
    for (const std::string& s : states) {
      wanted = wanted || s == state || (s == "final" && status && spool::is_final(*status));
    }
    if (!wanted) {
      return false;
    }
  }
  if (!name_glob.empty() && ::fnmatch(name_glob.c_str(), text(row, "run_id").c_str(), 0) != 0) {
    return false;
  }
  spool::SystemTime time = row_time(row);
  return (!since || time >= *since) && (!until || time <= *until);
}

std::vector<nlohmann::json> collect_rows(const spool::SpoolRoot& root) {
  std::unordered_map<std::string, spool::IndexedRun> index = spool::read_index(root);
  std::vector<nlohmann::json> rows;
  for (spool::RunEntry& entry : spool::list_runs(root)) {
    spool::RunDir run(root.path() / entry.run_id, entry.run_id);
    auto indexed = index.find(entry.run_id);
    // Final runs come from the spool's index (one file for all of them) while its line is
    // current (and of this version: it has "output"); others from their own state.json and
    // spec.json.
    if (indexed != index.end() && indexed->second.dir_inode == entry.dir_inode
        && indexed->second.summary.contains("output")
        && spool::index_entry_current(run, indexed->second)) {
      rows.push_back(std::move(indexed->second.summary));
      continue;
    }
    try {
      nlohmann::json row = spool::summarize(run.read_state_resolving_lost());
      // What was asked matters as much as what happened: a run whose spec.json is lost or
      // truncated is damaged too.
      (void)run.read_spec();
      rows.push_back(std::move(row));
    } catch (const std::exception& e) {
      // One damaged run must not hide the others.
      rows.push_back({{"run_id", entry.run_id}, {"state", "damaged"}, {"error", e.what()}});
    }
  }
  // Sort keys pulled out once: comparing through the JSON objects costs more than all the
  // reading. No start time yet (still starting or waiting, or skipped): it sorts by its end,
  // else as the newest ('~' after every digit).
  std::vector<std::pair<std::string, std::string>> keys;
  keys.reserve(rows.size());
  for (const nlohmann::json& row : rows) {
    std::string start = text(row, "start_time");
    if (start.empty()) {
      start = text(row, "end_time");
    }
    keys.emplace_back(start.empty() ? "~" : start, text(row, "run_id"));
  }
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] > keys[b]; });
  std::vector<nlohmann::json> sorted;
  sorted.reserve(rows.size());
  for (size_t i : order) {
    sorted.push_back(std::move(rows[i]));
  }
  return sorted;
}

} // namespace chaperone
