// spool/run_index.cpp: append and read the summary index.
#include "spool/run_index.hpp"

#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/shell_quote.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace chaperone::spool {

namespace {

template <typename T> nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

} // namespace

bool index_entry_current(const RunDir& run, const IndexedRun& indexed) {
  struct stat st {};
  bool state_current = ::stat(run.file(k_state_file).c_str(), &st) == 0
                       && static_cast<std::uint64_t>(st.st_size) == indexed.state_size
                       && mtime_ns(st) == indexed.state_mtime_ns;
  if (!state_current || !indexed.spec_size || !indexed.spec_mtime_ns) {
    return state_current;
  }
  return ::stat(run.file(k_spec_file).c_str(), &st) == 0
         && static_cast<std::uint64_t>(st.st_size) == *indexed.spec_size
         && mtime_ns(st) == *indexed.spec_mtime_ns;
}

namespace {

// Seconds from start to end (to now while the run lives), or null before it started.
nlohmann::json duration_seconds(const RunState& state) {
  auto start = parse_utc(state.start_time);
  if (!start) {
    return nullptr;
  }
  auto end = parse_utc(state.end_time);
  if (!end && is_final(state.state)) {
    return nullptr;
  }
  SystemTime until = end ? *end : std::chrono::system_clock::now();
  return std::chrono::duration<double>(until - *start).count();
}

} // namespace

nlohmann::json summarize(const RunState& state) {
  std::string error = state.error.value_or("");
  if (error.size() > 300) {
    error.resize(300);
  }
  return {{"run_id", state.run_id},
          {"state", to_string(state.state)},
          {"exit_code",
           is_final(state.state) ? nlohmann::json(state.cli_exit_code()) : nlohmann::json(nullptr)},
          {"return_code", or_null(state.return_code)},
          {"signal", or_null(state.signal)},
          {"start_time",
           state.start_time.empty() ? nlohmann::json(nullptr) : nlohmann::json(state.start_time)},
          {"end_time",
           state.end_time.empty() ? nlohmann::json(nullptr) : nlohmann::json(state.end_time)},
          {"error", state.error ? nlohmann::json(error) : nlohmann::json(nullptr)},
          {"command", shell_command_line(state.program.value("argv", nlohmann::json::array()))},
          {"target", state.target},
          {"cwd", state.program.value("cwd", nlohmann::json(nullptr))},
          {"output", {{"stdout", state.stdout_bytes}, {"stderr", state.stderr_bytes}}},
          {"duration_s", duration_seconds(state)},
          {"waiting_for", state.extra.value("waiting_for", nlohmann::json(nullptr))}};
}

void append_to_index(const RunDir& run,
                     const RunState& state,
                     std::uint64_t state_size,
                     std::int64_t state_mtime_ns) noexcept {
  try {
    struct stat st {};
    if (::stat(run.path().c_str(), &st) != 0) {
      return;
    }
    nlohmann::json line = summarize(state);
    line["ino"] = st.st_ino;
    line["state_size"] = state_size;
    line["state_mtime_ns"] = state_mtime_ns;
    // Without them the line would vouch for a spec.json it never saw: leave the run to be
    // read in full instead.
    if (::stat(run.file(k_spec_file).c_str(), &st) != 0) {
      return;
    }
    line["spec_size"] = static_cast<std::uint64_t>(st.st_size);
    line["spec_mtime_ns"] = mtime_ns(st);
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    Fd fd{::open((run.path().parent_path() / k_index_file).c_str(),
                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                 0600)};
    if (!fd.valid()) {
      return;
    }
    // One write: O_APPEND positions it at the end atomically, so lines never interleave.
    ssize_t n;
    do {
      n = ::write(fd.get(), text.data(), text.size());
    } while (n < 0 && errno == EINTR);
  } catch (...) {
    // The index is only a cache.
  }
}

std::unordered_map<std::string, IndexedRun> read_index(const SpoolRoot& root) {
  std::unordered_map<std::string, IndexedRun> runs;
  std::string text;
  try {
    text = read_file(root.path() / k_index_file);
  } catch (const std::system_error&) {
    return runs;
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      break; // a torn last line
    }
    nlohmann::json line = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                                                text.begin() + static_cast<std::ptrdiff_t>(end),
                                                nullptr,
                                                false);
    start = end + 1;
    if (!line.is_object() || !line.contains("run_id") || !line["run_id"].is_string()
        || !line.contains("ino") || !line["ino"].is_number_unsigned()) {
      continue;
    }
    IndexedRun& entry = runs[line["run_id"].get<std::string>()];
    entry.dir_inode = line["ino"].get<ino_t>();
    entry.state_size = line.value("state_size", std::uint64_t{0});
    entry.state_mtime_ns = line.value("state_mtime_ns", std::int64_t{0});
    if (line.contains("spec_size") && line["spec_size"].is_number_unsigned()
        && line.contains("spec_mtime_ns") && line["spec_mtime_ns"].is_number_integer()) {
      entry.spec_size = line["spec_size"].get<std::uint64_t>();
      entry.spec_mtime_ns = line["spec_mtime_ns"].get<std::int64_t>();
    } else {
      entry.spec_size.reset();
      entry.spec_mtime_ns.reset();
    }
    for (const char* key : {"ino", "state_size", "state_mtime_ns", "spec_size", "spec_mtime_ns"}) {
      line.erase(key);
    }
    entry.summary = std::move(line);
  }
  return runs;
}

} // namespace chaperone::spool
