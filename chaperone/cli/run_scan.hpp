// chaperone/cli/run_scan.hpp: what `ls` reads of a spool before it lists anything: the root's
// entries, state.json and spec.json of each as fstatat sees them, and the index. On a large
// spool the index is parsed on a second thread while the first stats, and both share the rest
// of the stats: the fstatat (path lookups in the kernel) are most of the cost of `ls`, and two
// CPUs do them in half the time.
#pragma once

#include "spool/fd.hpp"
#include "spool/run_index.hpp"
#include "spool/run_list.hpp"
#include "spool/spool_root.hpp"

#include <cstdint>
#include <vector>

namespace chaperone {

// One file of a run as fstatat(AT_SYMLINK_NOFOLLOW) saw it; `regular` false: missing, not a
// regular file, or not readable.
struct FileStat {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool regular = false;

  bool same(std::uint64_t other_size, std::int64_t other_mtime_ns) const {
    return regular && size == other_size && mtime_ns == other_mtime_ns;
  }
};

struct RunStat {
  FileStat state;
  FileStat spec;
};

struct RunScan {
  spool::Fd root_fd; // the stats are relative to it
  spool::IndexFile index;
  std::vector<spool::RunEntry> entries; // directory order
  std::vector<RunStat> stats;           // stats[i] is entries[i]'s
  // lines[i]: entries[i]'s line in the index while it still describes the run (the same
  // directory inode, state.json and spec.json sizes and mtimes as stats[i]), else nullptr.
  std::vector<const spool::IndexedRun*> lines;
  unsigned threads = 1; // how many did the stats (for -vv)
};

// An index smaller than this (some 200 runs) is read, and the runs stat, on one thread: a
// thread costs more than it saves.
constexpr size_t k_scan_threaded_min_index_bytes = size_t{64} * 1024;

// Reads the root. Two threads when the index has at least k_scan_threaded_min_index_bytes and
// this process may run on two CPUs or more (sched_getaffinity); one otherwise, or when no
// thread can be made. The result does not depend on the number of threads.
RunScan scan_runs(const spool::SpoolRoot& root);

} // namespace chaperone
