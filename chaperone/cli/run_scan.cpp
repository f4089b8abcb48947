// chaperone/cli/run_scan.cpp: see run_scan.hpp.
#include "chaperone/cli/run_scan.hpp"

#include "spool/error.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
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

// True while the indexed line still describes the run on disk.
bool current(const spool::RunEntry& entry, const RunStat& stat, const spool::IndexedRun& indexed) {
  return indexed.keys.dir_inode == entry.dir_inode
         && stat.state.same(indexed.keys.state_size, indexed.keys.state_mtime_ns)
         && (!indexed.keys.spec_size
             || stat.spec.same(*indexed.keys.spec_size, indexed.keys.spec_mtime_ns));
}

// Hands out chunks of the runs to as many threads as call it: whoever is free takes the next
// chunk, so a thread that started late (after parsing the index) still does its share.
class Chunks {
public:
  explicit Chunks(size_t size) : m_size(size) {}

  template <typename Work> void drain(Work work) {
    for (;;) {
      size_t first = m_next.fetch_add(k_chunk, std::memory_order_relaxed);
      if (first >= m_size) {
        return;
      }
      size_t last = std::min(first + k_chunk, m_size);
      for (size_t i = first; i < last; ++i) {
        work(i);
      }
      if (m_done.fetch_add(last - first, std::memory_order_acq_rel) + (last - first) == m_size) {
        m_done.notify_all();
      }
    }
  }

  // Returns once every chunk is done, by whichever thread took it (their writes visible).
  void wait_done() const {
    for (size_t done = m_done.load(std::memory_order_acquire); done != m_size;
         done = m_done.load(std::memory_order_acquire)) {
      m_done.wait(done, std::memory_order_acquire);
    }
  }

private:
  static constexpr size_t k_chunk = 256;

  size_t m_size;
  std::atomic<size_t> m_next{0};
  std::atomic<size_t> m_done{0};
};

// The two passes over the runs once they are listed: stat each, then look its line up in the
// index (which must be read by then). Both may run on two threads at once.
class ScanPasses {
public:
  explicit ScanPasses(RunScan& scan)
      : m_scan(scan), m_stats(scan.entries.size()), m_lookups(scan.entries.size()) {}

  void stat_all() noexcept {
    // "ID/spec.json": a name from readdir is at most NAME_MAX bytes.
    std::array<char, NAME_MAX + 16> path{};
    m_stats.drain([&](size_t i) {
      const std::string& id = m_scan.entries[i].run_id;
      size_t n = std::min(id.size(), size_t{NAME_MAX});
      std::memcpy(path.data(), id.data(), n);
      std::memcpy(path.data() + n, "/state.json", sizeof "/state.json");
      m_scan.stats[i].state = stat_file(m_scan.root_fd.get(), path.data());
      std::memcpy(path.data() + n, "/spec.json", sizeof "/spec.json");
      m_scan.stats[i].spec = stat_file(m_scan.root_fd.get(), path.data());
    });
  }

  // After stat_all(), on every thread that called it: the stats of the other are needed too.
  void look_up_all() noexcept {
    m_stats.wait_done();
    m_lookups.drain([&](size_t i) {
      const spool::IndexedRun* line = m_scan.index.find(m_scan.entries[i].run_id);
      if (line != nullptr && current(m_scan.entries[i], m_scan.stats[i], *line)) {
        m_scan.lines[i] = line;
      }
    });
  }

private:
  RunScan& m_scan;
  Chunks m_stats;
  Chunks m_lookups;
};

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    return 1;
  }
  return static_cast<unsigned>(CPU_COUNT(&set));
}

bool worth_a_thread(const spool::SpoolRoot& root) {
  struct stat st {};
  return ::fstatat(AT_FDCWD, (root.path() / spool::k_index_file).c_str(), &st, AT_SYMLINK_NOFOLLOW)
             == 0
         && S_ISREG(st.st_mode)
         && static_cast<size_t>(st.st_size) >= k_scan_threaded_min_index_bytes
         && usable_cpus() >= 2;
}

// The second thread: it reads the index while the first lists the root, then shares the
// passes. Its owner must call listed() or failed() once, then join().
class Helper {
public:
  Helper(const spool::SpoolRoot& root, RunScan& scan)
      : m_thread([this, &root, &scan] { body(root, scan); }) {}
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;
  Helper(Helper&&) = delete;
  Helper& operator=(Helper&&) = delete;
  // Unwinding: a helper still waiting for the listing must not wait forever.
  ~Helper() {
    if (m_thread.joinable()) {
      failed();
      m_thread.join();
    }
  }

  void listed(ScanPasses& passes) {
    m_passes = &passes;
    publish(k_listed);
  }
  void failed() { publish(k_failed); }
  void wait_for_index() const { m_index_read.wait(false, std::memory_order_acquire); }
  // Rethrows what reading the index threw.
  void join() {
    m_thread.join();
    if (m_failure) {
      std::rethrow_exception(m_failure);
    }
  }

private:
  static constexpr int k_listing = 0;
  static constexpr int k_listed = 1;
  static constexpr int k_failed = 2;

  void publish(int state) {
    m_state.store(state, std::memory_order_release);
    m_state.notify_one();
  }

  void body(const spool::SpoolRoot& root, RunScan& scan) noexcept {
    try {
      scan.index = spool::IndexFile::read(root);
    } catch (...) {
      m_failure = std::current_exception();
    }
    m_index_read.store(true, std::memory_order_release);
    m_index_read.notify_one();
    m_state.wait(k_listing, std::memory_order_acquire);
    if (m_state.load(std::memory_order_acquire) == k_listed) {
      m_passes->stat_all();
      m_passes->look_up_all();
    }
  }

  std::atomic<int> m_state{k_listing};
  std::atomic<bool> m_index_read{false};
  ScanPasses* m_passes = nullptr; // set before m_state becomes k_listed
  std::exception_ptr m_failure;
  std::thread m_thread; // last: it starts once the rest is made
};

} // namespace

RunScan scan_runs(const spool::SpoolRoot& root) {
  RunScan scan;
  scan.root_fd = spool::Fd{::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!scan.root_fd.valid()) {
    spool::throw_errno("open " + root.path().string());
  }
  // Whether a run is stat before or after the index is read does not matter: a line counts
  // only if the stat matches it, and a supervisor appends a run's line before its state.json.
  std::optional<Helper> helper;
  if (worth_a_thread(root)) {
    try {
      helper.emplace(root, scan);
    } catch (const std::system_error&) {
      // No thread to be had (a limit on tasks): one does it all.
    }
  }
  if (!helper) {
    scan.index = spool::IndexFile::read(root);
  }
  scan.entries = spool::list_runs(root);
  scan.stats.resize(scan.entries.size());
  scan.lines.assign(scan.entries.size(), nullptr);
  ScanPasses passes(scan);
  if (helper) {
    helper->listed(passes);
  }
  passes.stat_all();
  if (helper) {
    helper->wait_for_index();
  }
  passes.look_up_all();
  if (helper) {
    helper->join();
    scan.threads = 2;
  }
  return scan;
}

} // namespace chaperone
