// chaperone/cli/run_scan.cpp: see run_scan.hpp.
#include "chaperone/cli/run_scan.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>

namespace chaperone {

namespace {

FileStat stat_file(int root_fd, const char* path) noexcept {
  struct stat st {};
  FileStat out;
  if (::fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.mtime_ns =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    out.regular = true;
  }
  return out;
}

// Hands out the runs to stat in chunks, to as many threads as call drain(): whoever is free
// takes the next chunk, so a thread that started late (after parsing the index) still helps.
class StatQueue {
public:
  StatQueue(int root_fd, const std::vector<spool::RunEntry>& entries, std::vector<RunStat>& stats)
      : m_root_fd(root_fd), m_entries(entries), m_stats(stats) {}

  void drain() noexcept {
    // "ID/spec.json": a name from readdir is at most NAME_MAX bytes.
    std::array<char, NAME_MAX + 16> path{};
    for (;;) {
      size_t first = m_next.fetch_add(k_chunk, std::memory_order_relaxed);
      if (first >= m_entries.size()) {
        return;
      }
      size_t last = std::min(first + k_chunk, m_entries.size());
      for (size_t i = first; i < last; ++i) {
        const std::string& id = m_entries[i].run_id;
        size_t n = std::min(id.size(), size_t{NAME_MAX});
        std::memcpy(path.data(), id.data(), n);
        std::memcpy(path.data() + n, "/state.json", sizeof "/state.json");
        m_stats[i].state = stat_file(m_root_fd, path.data());
        std::memcpy(path.data() + n, "/spec.json", sizeof "/spec.json");
        m_stats[i].spec = stat_file(m_root_fd, path.data());
      }
    }
  }

private:
  static constexpr size_t k_chunk = 256;

  int m_root_fd;
  const std::vector<spool::RunEntry>& m_entries;
  std::vector<RunStat>& m_stats;
  std::atomic<size_t> m_next{0};
};

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    return 1;
  }
  return static_cast<unsigned>(CPU_COUNT(&set));
}

} // namespace

RunScan scan_runs(const spool::SpoolRoot& root) {
  RunScan scan;
  scan.root_fd = spool::Fd{::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!scan.root_fd.valid()) {
    spool::throw_errno("open " + root.path().string());
  }
  scan.entries = spool::list_runs(root);
  scan.stats.resize(scan.entries.size());
  StatQueue queue(scan.root_fd.get(), scan.entries, scan.stats);
  // Whether a stat comes before or after the index is read does not matter: a line counts only
  // if the stat matches it, and a supervisor appends a run's line before its state.json.
  std::optional<std::thread> helper;
  std::exception_ptr failure;
  if (scan.entries.size() >= k_scan_threaded_min_runs && usable_cpus() >= 2) {
    try {
      helper.emplace([&] {
        try {
          scan.index = spool::IndexFile::read(root);
        } catch (...) {
          failure = std::current_exception();
        }
        queue.drain();
      });
    } catch (const std::system_error&) {
      // No thread to be had (a limit on tasks): one does it all.
    }
  }
  if (!helper) {
    scan.index = spool::IndexFile::read(root);
  }
  queue.drain();
  if (helper) {
    helper->join();
    scan.threads = 2;
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
  return scan;
}

} // namespace chaperone
