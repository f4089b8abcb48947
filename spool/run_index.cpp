// spool/run_index.cpp: append and read the summary index.
#include "spool/run_index.hpp"

#include "spool/atomic_file.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/shell_quote.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace chaperone::spool {

namespace {

template <typename T> nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

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

// The line check: a 64-bit hash, 8 bytes a step (the whole index is hashed on every `ls`).
std::uint64_t line_hash(std::string_view text) {
  constexpr std::uint64_t k_mul = 0x9E3779B97F4A7C15ULL;
  std::uint64_t h = 0x2545F4914F6CDD1DULL ^ (text.size() * k_mul);
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, text.data() + i, 8);
    h = (h ^ word) * k_mul;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, text.data() + i, text.size() - i);
  h = (h ^ tail) * k_mul;
  h ^= h >> 32;
  return h;
}

constexpr size_t k_check_digits = 16;

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Keys carried in front of a version 2 line (the rest go into its last element).
constexpr const char* k_front_keys[] = {
    "run_id", "state", "exit_code", "start_time", "end_time", "duration_s", "command"};

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

std::string index_line(const nlohmann::json& summary, const IndexKeys& keys) {
  auto field = [&](const char* key) {
    auto it = summary.find(key);
    return it == summary.end() ? std::string("null") : dump(*it);
  };
  nlohmann::json rest = nlohmann::json::object();
  for (const auto& [key, value] : summary.items()) {
    bool front = false;
    for (const char* k : k_front_keys) {
      front = front || key == k;
    }
    if (!front) {
      rest[key] = value;
    }
  }
  std::string body = std::to_string(keys.dir_inode) + "," + std::to_string(keys.state_size) + ","
                     + std::to_string(keys.state_mtime_ns) + ","
                     + (keys.spec_size ? std::to_string(*keys.spec_size) : std::string("null"))
                     + "," + std::to_string(keys.spec_mtime_ns);
  for (const char* key : k_front_keys) {
    body += "," + field(key);
  }
  body += "," + dump(rest) + "]";
  char check[k_check_digits + 1];
  (void)std::snprintf(
      check, sizeof check, "%016llx", static_cast<unsigned long long>(line_hash(body)));
  return std::string("[2,\"") + check + "\"," + body + "\n";
}

void append_index_lines(const std::filesystem::path& root, const std::string& lines) noexcept {
  if (lines.empty()) {
    return;
  }
  Fd fd{::open(
      (root / k_index_file).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid()) {
    return;
  }
  // One write: O_APPEND positions it at the end atomically, so lines never interleave.
  ssize_t n;
  do {
    n = ::write(fd.get(), lines.data(), lines.size());
  } while (n < 0 && errno == EINTR);
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
    IndexKeys keys;
    keys.dir_inode = st.st_ino;
    keys.state_size = state_size;
    keys.state_mtime_ns = state_mtime_ns;
    // Without them the line would vouch for a spec.json it never saw: leave the run to be
    // read in full instead.
    if (::stat(run.file(k_spec_file).c_str(), &st) != 0) {
      return;
    }
    keys.spec_size = static_cast<std::uint64_t>(st.st_size);
    keys.spec_mtime_ns = mtime_ns(st);
    append_index_lines(run.path().parent_path(), index_line(summarize(state), keys));
  } catch (...) {
    // The index is only a cache.
  }
}

namespace {

// A cursor over one version 2 line; every step fails (returns false) on anything unexpected.
class LineParser {
public:
  LineParser(std::string_view text, std::deque<std::string>& arena)
      : m_text(text), m_arena(arena) {}

  bool literal(char c) {
    if (m_pos < m_text.size() && m_text[m_pos] == c) {
      ++m_pos;
      return true;
    }
    return false;
  }
  bool null() {
    if (m_text.substr(m_pos, 4) == "null") {
      m_pos += 4;
      return true;
    }
    return false;
  }
  template <typename T> bool integer(T& out) {
    auto [end, ec] = std::from_chars(m_text.data() + m_pos, m_text.data() + m_text.size(), out);
    if (ec != std::errc() || end == m_text.data() + m_pos) {
      return false;
    }
    m_pos = static_cast<size_t>(end - m_text.data());
    return true;
  }
  template <typename T> bool optional_integer(std::optional<T>& out) {
    if (null()) {
      out.reset();
      return true;
    }
    T value{};
    if (!integer(value)) {
      return false;
    }
    out = value;
    return true;
  }
  bool optional_double(std::optional<double>& out) {
    if (null()) {
      out.reset();
      return true;
    }
    // strtod needs a terminated string: copy the number's characters (at most 32).
    char buffer[40];
    size_t n = 0;
    while (m_pos + n < m_text.size() && n < sizeof buffer - 1
           && std::strchr("0123456789+-.eE", m_text[m_pos + n]) != nullptr) {
      buffer[n] = m_text[m_pos + n];
      ++n;
    }
    if (n == 0 || n == sizeof buffer - 1) {
      return false;
    }
    buffer[n] = '\0';
    char* end = nullptr;
    double value = std::strtod(buffer, &end);
    if (end != buffer + n) {
      return false;
    }
    m_pos += n;
    out = value;
    return true;
  }
  // A JSON string; views into the line unless it has escapes (decoded into the arena).
  bool string(std::string_view& out) {
    if (!literal('"')) {
      return false;
    }
    size_t start = m_pos;
    size_t end = start;
    while (end < m_text.size() && m_text[end] != '"' && m_text[end] != '\\') {
      ++end;
    }
    if (end < m_text.size() && m_text[end] == '"') {
      out = m_text.substr(start, end - start);
      m_pos = end + 1;
      return true;
    }
    // Escapes: let the JSON library decode this one string.
    size_t close = end;
    while (close < m_text.size() && m_text[close] != '"') {
      close += m_text[close] == '\\' ? 2 : 1;
    }
    if (close >= m_text.size()) {
      return false;
    }
    nlohmann::json decoded =
        nlohmann::json::parse(m_text.substr(start - 1, close - start + 2), nullptr, false);
    if (!decoded.is_string()) {
      return false;
    }
    m_arena.push_back(decoded.get<std::string>());
    out = m_arena.back();
    m_pos = close + 1;
    return true;
  }
  bool optional_string(std::string_view& out) {
    if (null()) {
      out = {};
      return true;
    }
    return string(out);
  }
  // The rest of the line must be "{...}]".
  bool last_object(std::string_view& out) {
    if (m_text.size() < m_pos + 3 || m_text[m_pos] != '{'
        || m_text.substr(m_text.size() - 2) != "}]") {
      return false;
    }
    out = m_text.substr(m_pos, m_text.size() - 1 - m_pos);
    m_pos = m_text.size();
    return true;
  }

private:
  std::string_view m_text;
  size_t m_pos = 0;
  std::deque<std::string>& m_arena;
};

bool parse_v2(std::string_view line, std::deque<std::string>& arena, IndexedRun& run) {
  // [2,"<16 hex>",<body>
  constexpr size_t k_head = 5 + k_check_digits + 2;
  if (line.size() < k_head || line.substr(0, 4) != "[2,\"" || line[4 + k_check_digits] != '"'
      || line[5 + k_check_digits] != ',') {
    return false;
  }
  std::uint64_t check = 0;
  auto [end, ec] = std::from_chars(line.data() + 4, line.data() + 4 + k_check_digits, check, 16);
  if (ec != std::errc() || end != line.data() + 4 + k_check_digits
      || check != line_hash(line.substr(6 + k_check_digits))) {
    return false;
  }
  LineParser p(line.substr(6 + k_check_digits), arena);
  std::optional<std::uint64_t> spec_size;
  return p.integer(run.keys.dir_inode) && p.literal(',') && p.integer(run.keys.state_size)
         && p.literal(',') && p.integer(run.keys.state_mtime_ns) && p.literal(',')
         && p.optional_integer(run.keys.spec_size) && p.literal(',')
         && p.integer(run.keys.spec_mtime_ns) && p.literal(',') && p.string(run.run_id)
         && p.literal(',') && p.string(run.state) && p.literal(',')
         && p.optional_integer(run.exit_code) && p.literal(',') && p.optional_string(run.start_time)
         && p.literal(',') && p.optional_string(run.end_time) && p.literal(',')
         && p.optional_double(run.duration_s) && p.literal(',') && p.string(run.command)
         && p.literal(',') && p.last_object(run.rest) && !run.run_id.empty();
}

std::string_view
text_or_empty(const nlohmann::json& summary, const char* key, std::deque<std::string>& arena) {
  auto it = summary.find(key);
  if (it == summary.end() || !it->is_string()) {
    return {};
  }
  arena.push_back(it->get<std::string>());
  return arena.back();
}

// A version 1 line: a JSON object with the summary and the keys beside it.
bool parse_v1(std::string_view line, std::deque<std::string>& arena, IndexedRun& run) {
  nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
  if (!json.is_object() || !json.contains("run_id") || !json["run_id"].is_string()
      || !json.contains("ino") || !json["ino"].is_number_unsigned()
      || !json.contains("output")) { // lines before "output" was summarized: too old to use
    return false;
  }
  run.keys.dir_inode = json["ino"].get<ino_t>();
  run.keys.state_size = json.value("state_size", std::uint64_t{0});
  run.keys.state_mtime_ns = json.value("state_mtime_ns", std::int64_t{0});
  if (json.contains("spec_size") && json["spec_size"].is_number_unsigned()
      && json.contains("spec_mtime_ns") && json["spec_mtime_ns"].is_number_integer()) {
    run.keys.spec_size = json["spec_size"].get<std::uint64_t>();
    run.keys.spec_mtime_ns = json["spec_mtime_ns"].get<std::int64_t>();
  }
  for (const char* key : {"ino", "state_size", "state_mtime_ns", "spec_size", "spec_mtime_ns"}) {
    json.erase(key);
  }
  run.run_id = text_or_empty(json, "run_id", arena);
  run.state = text_or_empty(json, "state", arena);
  run.start_time = text_or_empty(json, "start_time", arena);
  run.end_time = text_or_empty(json, "end_time", arena);
  run.command = text_or_empty(json, "command", arena);
  if (json.contains("exit_code") && json["exit_code"].is_number_integer()) {
    run.exit_code = json["exit_code"].get<int>();
  }
  if (json.contains("duration_s") && json["duration_s"].is_number()) {
    run.duration_s = json["duration_s"].get<double>();
  }
  run.summary = std::move(json);
  return true;
}

} // namespace

std::optional<nlohmann::json> IndexedRun::to_summary() const {
  if (summary) {
    return summary;
  }
  nlohmann::json out = nlohmann::json::parse(rest, nullptr, false);
  if (!out.is_object()) {
    return std::nullopt;
  }
  auto text_or_null = [](std::string_view text) {
    return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::string(text));
  };
  out["run_id"] = std::string(run_id);
  out["state"] = std::string(state);
  out["exit_code"] = exit_code ? nlohmann::json(*exit_code) : nlohmann::json(nullptr);
  out["start_time"] = text_or_null(start_time);
  out["end_time"] = text_or_null(end_time);
  out["duration_s"] = duration_s ? nlohmann::json(*duration_s) : nlohmann::json(nullptr);
  out["command"] = std::string(command);
  return out;
}

IndexFile IndexFile::read(const SpoolRoot& root) {
  // One read of the whole file (tens of MB at 100,000 runs).
  std::optional<std::string> text = read_regular_file(root.path() / k_index_file);
  if (!text) {
    return {};
  }
  return parse(std::move(*text));
}

IndexFile IndexFile::parse(std::string text) {
  IndexFile index;
  index.m_text = std::move(text);
  std::string_view all = index.m_text;
  // Sized for lines of 256 bytes or more (a version 2 line has some 330), without a pass over
  // the whole text to count them (a read of 33 MB at 100,000 runs); insert() grows it if not.
  size_t lines = all.size() / 256 + 1;
  size_t slots = 16;
  while (slots < 2 * lines) {
    slots *= 2;
  }
  index.m_slots.assign(slots, 0);
  index.m_runs.reserve(lines);
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\n', start);
    if (end == std::string_view::npos) {
      break; // a torn last line
    }
    std::string_view line = all.substr(start, end - start);
    start = end + 1;
    ++index.m_lines;
    IndexedRun run;
    bool parsed = !line.empty() && line[0] == '['   ? parse_v2(line, index.m_arena, run)
                  : !line.empty() && line[0] == '{' ? parse_v1(line, index.m_arena, run)
                                                    : false;
    if (parsed) {
      run.line = line;
      index.insert(std::move(run));
    }
  }
  return index;
}

void compact_index(const SpoolRoot& root, const std::vector<std::string>& keep) noexcept {
  try {
    IndexFile index = IndexFile::read(root);
    if (index.lines() == 0) {
      return;
    }
    std::string text;
    for (const std::string& id : keep) {
      if (const IndexedRun* run = index.find(id)) {
        text.append(run->line).append("\n");
      }
    }
    write_file_atomically(root.path() / k_index_file, text, Durability::atomic_only);
  } catch (...) {
    // Only a cache.
  }
}

void IndexFile::insert(IndexedRun run) {
  if (2 * (m_runs.size() + 1) > m_slots.size()) {
    grow();
  }
  std::uint64_t hash = line_hash(run.run_id);
  std::uint64_t tag = hash >> 32 << 32;
  size_t mask = m_slots.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    std::uint64_t& at = m_slots[slot];
    if (at == 0) {
      m_runs.push_back(std::move(run));
      at = tag | m_runs.size();
      return;
    }
    if ((at & ~std::uint64_t{0xffffffff}) == tag
        && m_runs[(at & 0xffffffff) - 1].run_id == run.run_id) {
      m_runs[(at & 0xffffffff) - 1] = std::move(run); // a later line for the same id wins
      return;
    }
  }
}

void IndexFile::grow() {
  m_slots.assign(std::max<size_t>(16, 2 * m_slots.size()), 0);
  size_t mask = m_slots.size() - 1;
  for (size_t i = 0; i < m_runs.size(); ++i) {
    std::uint64_t hash = line_hash(m_runs[i].run_id);
    size_t slot = hash & mask;
    while (m_slots[slot] != 0) {
      slot = (slot + 1) & mask;
    }
    m_slots[slot] = (hash >> 32 << 32) | (i + 1);
  }
}

const IndexedRun* IndexFile::find(std::string_view run_id) const {
  if (m_slots.empty()) {
    return nullptr;
  }
  std::uint64_t hash = line_hash(run_id);
  std::uint64_t tag = hash >> 32 << 32;
  size_t mask = m_slots.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    std::uint64_t at = m_slots[slot];
    if (at == 0) {
      return nullptr;
    }
    if ((at & ~std::uint64_t{0xffffffff}) == tag
        && m_runs[(at & 0xffffffff) - 1].run_id == run_id) {
      return &m_runs[(at & 0xffffffff) - 1];
    }
  }
}

} // namespace chaperone::spool
