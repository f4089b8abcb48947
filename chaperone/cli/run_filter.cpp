// chaperone/cli/run_filter.cpp: see run_filter.hpp.
#include "chaperone/cli/run_filter.hpp"

#include "chaperone/cli/duration.hpp"
#include "chaperone/cli/run_scan.hpp"
#include "spool/error.hpp"
#include "spool/fd.hpp"
#include "spool/run_index.hpp"
#include "spool/run_list.hpp"
#include "spool/state.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
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

spool::SystemTime row_time(std::string_view start_time, std::string_view end_time) {
  for (std::string_view time : {start_time, end_time}) {
    if (!time.empty()) {
      if (auto parsed = spool::parse_utc(std::string(time))) {
        return *parsed;
      }
    }
  }
  return std::chrono::system_clock::now();
}

spool::SystemTime row_time(const nlohmann::json& row) {
  return row_time(text(row, "start_time"), text(row, "end_time"));
}

bool RunFilter::matches(std::string_view state,
                        std::string_view run_id,
                        std::string_view start_time,
                        std::string_view end_time) const {
  if (!states.empty()) {
    auto status = spool::parse_run_status(std::string(state));
    bool wanted = false;
    for (const std::string& s : states) {
      wanted = wanted || s == state || (s == "final" && status && spool::is_final(*status));
    }
    if (!wanted) {
      return false;
    }
  }
  if (!name_glob.empty() && ::fnmatch(name_glob.c_str(), std::string(run_id).c_str(), 0) != 0) {
    return false;
  }
  if (!since && !until) {
    return true;
  }
  spool::SystemTime time = row_time(start_time, end_time);
  return (!since || time >= *since) && (!until || time <= *until);
}

bool RunFilter::matches(const nlohmann::json& row) const {
  return matches(
      text(row, "state"), text(row, "run_id"), text(row, "start_time"), text(row, "end_time"));
}

namespace {

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// "ID/NAME" relative to the root fd, in a reused buffer.
class RunPath {
public:
  const char* operator()(std::string_view run_id, const char* name) {
    m_path.assign(run_id);
    m_path += '/';
    m_path += name;
    return m_path.c_str();
  }

private:
  std::string m_path;
};

std::optional<spool::IndexKeys> keys_now(int root_fd, RunPath& path, const spool::RunEntry& entry) {
  struct stat state {};
  struct stat spec {};
  if (::fstatat(root_fd, path(entry.run_id, spool::k_state_file), &state, AT_SYMLINK_NOFOLLOW) != 0
      || ::fstatat(root_fd, path(entry.run_id, spool::k_spec_file), &spec, AT_SYMLINK_NOFOLLOW)
             != 0) {
    return std::nullopt;
  }
  spool::IndexKeys keys;
  keys.dir_inode = entry.dir_inode;
  keys.state_size = static_cast<std::uint64_t>(state.st_size);
  keys.state_mtime_ns = mtime_ns(state);
  keys.spec_size = static_cast<std::uint64_t>(spec.st_size);
  keys.spec_mtime_ns = mtime_ns(spec);
  return keys;
}

bool same_keys(const spool::IndexKeys& a, const spool::IndexKeys& b) {
  return a.dir_inode == b.dir_inode && a.state_size == b.state_size
         && a.state_mtime_ns == b.state_mtime_ns && a.spec_size == b.spec_size
         && a.spec_mtime_ns == b.spec_mtime_ns;
}

std::string_view view(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                            : std::string_view();
}

} // namespace

nlohmann::json ListedRun::to_summary(const spool::SpoolRoot& root) const {
  if (summary != nullptr) {
    return *summary;
  }
  if (auto whole = indexed->to_summary()) {
    return *whole;
  }
  // The line's last element did not parse after all: the run's own files say it.
  spool::RunDir run(root.path() / std::string(run_id), std::string(run_id));
  try {
    nlohmann::json row = spool::summarize(run.read_state_resolving_lost());
    (void)run.read_spec();
    return row;
  } catch (const std::exception& e) {
    return {{"run_id", std::string(run_id)}, {"state", "damaged"}, {"error", e.what()}};
  }
}

std::unique_ptr<Listing> list_for_ls(const spool::SpoolRoot& root) {
  auto listing = std::make_unique<Listing>();
  RunScan scan = scan_runs(root);
  listing->index = std::move(scan.index);
  listing->threads = scan.threads;
  const spool::Fd& root_fd = scan.root_fd;
  RunPath path;
  std::string new_lines; // final runs the index lacked, for the next time
  std::vector<spool::RunEntry>& entries = scan.entries;
  listing->runs.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    spool::RunEntry& entry = entries[i];
    if (const spool::IndexedRun* indexed = scan.lines[i]) {
      ListedRun row;
      row.run_id = indexed->run_id;
      row.state = indexed->state;
      row.start_time = indexed->start_time;
      row.end_time = indexed->end_time;
      row.command = indexed->command;
      row.exit_code = indexed->exit_code;
      row.duration_s = indexed->duration_s;
      row.indexed = indexed;
      listing->runs.push_back(row);
      continue;
    }
    spool::RunDir run(root.path() / entry.run_id, entry.run_id);
    std::optional<spool::IndexKeys> before = keys_now(root_fd.get(), path, entry);
    nlohmann::json summary;
    bool final = false;
    try {
      spool::RunState state = run.read_state_resolving_lost();
      final = spool::is_final(state.state);
      summary = spool::summarize(state);
      // What was asked matters as much as what happened: a run whose spec.json is lost or
      // truncated is damaged too.
      (void)run.read_spec();
    } catch (const std::exception& e) {
      // One damaged run must not hide the others.
      summary = {{"run_id", entry.run_id}, {"state", "damaged"}, {"error", e.what()}};
      final = false;
    }
    if (final && before) {
      std::optional<spool::IndexKeys> after = keys_now(root_fd.get(), path, entry);
      if (after && same_keys(*before, *after)) {
        new_lines += spool::index_line(summary, *before);
      }
    }
    const nlohmann::json& kept = listing->summaries.emplace_back(std::move(summary));
    ListedRun row;
    row.run_id = view(kept, "run_id");
    row.state = view(kept, "state");
    row.start_time = view(kept, "start_time");
    row.end_time = view(kept, "end_time");
    row.command = row.state == "damaged" ? view(kept, "error") : view(kept, "command");
    auto exit_code = kept.find("exit_code");
    if (exit_code != kept.end() && exit_code->is_number_integer()) {
      row.exit_code = exit_code->get<int>();
    }
    row.summary = &kept;
    listing->runs.push_back(row);
  }
  spool::append_index_lines(root.path(), new_lines);
  // The rows hold no view into these: give their memory back before the sort's (peak RSS).
  std::vector<spool::RunEntry>().swap(scan.entries);
  std::vector<RunStat>().swap(scan.stats);
  std::vector<const spool::IndexedRun*>().swap(scan.lines);
  std::string().swap(new_lines);
  // No start time yet (still starting or waiting, or skipped): it sorts by its end, else as
  // the newest ('~' after every digit). The keys are copied into one flat array first: a
  // comparison through the rows' views is a cache miss at 100,000 runs.
  struct SortKey {
    std::array<char, 32> time{};
    std::uint32_t row = 0;
  };
  std::vector<SortKey> keys(listing->runs.size());
  auto time_of = [](const ListedRun& row) {
    return row.start_time.empty() ? (row.end_time.empty() ? std::string_view("~") : row.end_time)
                                  : row.start_time;
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string_view time = time_of(listing->runs[i]);
    std::memcpy(keys[i].time.data(), time.data(), std::min(time.size(), keys[i].time.size()));
    keys[i].row = static_cast<std::uint32_t>(i);
  }
  const std::vector<ListedRun>& runs = listing->runs;
  std::sort(keys.begin(), keys.end(), [&](const SortKey& a, const SortKey& b) {
    if (int c = std::memcmp(a.time.data(), b.time.data(), a.time.size()); c != 0) {
      return c > 0;
    }
    const ListedRun& ra = runs[a.row];
    const ListedRun& rb = runs[b.row];
    std::string_view ta = time_of(ra);
    std::string_view tb = time_of(rb);
    return ta != tb ? ta > tb : ra.run_id > rb.run_id; // beyond 32 bytes, or the same time
  });
  // Put the rows in that order in place (one cycle at a time): a sorted copy would double the
  // largest array of `ls` (12 MB at 100,000 runs), in page faults as much as in memory.
  std::vector<std::uint32_t> to(keys.size()); // to[old position] = new position
  for (size_t i = 0; i < keys.size(); ++i) {
    to[keys[i].row] = static_cast<std::uint32_t>(i);
  }
  keys = {};
  std::vector<ListedRun>& rows = listing->runs;
  for (size_t i = 0; i < rows.size(); ++i) {
    while (to[i] != i) {
      std::swap(rows[i], rows[to[i]]);
      std::swap(to[i], to[to[i]]);
    }
  }
  return listing;
}

std::vector<nlohmann::json> collect_rows(const spool::SpoolRoot& root) {
  std::unique_ptr<Listing> listing = list_for_ls(root);
  std::vector<nlohmann::json> rows;
  rows.reserve(listing->runs.size());
  for (const ListedRun& row : listing->runs) {
    rows.push_back(row.to_summary(root));
  }
  return rows;
}

} // namespace chaperone
