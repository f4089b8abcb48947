// spool/run_names.hpp: a list of the run ids of a large spool, so that a prefix is resolved
// without a readdir of 100,000 entries.
#pragma once

#include "spool/fd.hpp"
#include "spool/spool_root.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace chaperone::spool {

// <root>/.names: "chaperone-names 1\n", then one run id a line. Written whole (from a readdir
// of the root) only once the root holds k_names_min_runs runs: below that a readdir is cheap
// and the file would only be one more to keep. `run` (publish_run, retire_run) appends the id
// of each run it is about to make visible, before the rename, so the file names every run
// made since (and a few that never were: each candidate is checked by lstat). A run put in
// place by hand is not in it until the next rebuild (readdir fallback below, or gc): a prefix
// it shares with exactly one listed run resolves to that run until then.
constexpr const char* k_names_file = ".names";
constexpr size_t k_names_min_runs = 1000;

// Held by `run` from before it notes a run's name until the rename that makes the run
// visible: a shared flock on the root directory itself. rewrite_names takes it exclusively
// around its readdir and replacement, so no run can be noted in the old file and made
// visible after the new file's readdir (a name lost that way would let a prefix that matches
// two runs resolve to one of them). Not taken: the names are only a cache; a failure to take
// it is ignored, like every error here.
class NamesPublishLock {
public:
  explicit NamesPublishLock(const std::filesystem::path& root) noexcept;
  NamesPublishLock(const NamesPublishLock&) = delete;
  NamesPublishLock& operator=(const NamesPublishLock&) = delete;
  NamesPublishLock(NamesPublishLock&&) = delete;
  NamesPublishLock& operator=(NamesPublishLock&&) = delete;
  ~NamesPublishLock() = default;

private:
  Fd m_root; // closing it releases the flock
};

// Appends `run_id` if the file exists (never creates it). Errors are ignored: a missing name
// only costs the next prefix lookup a readdir. Call it under a NamesPublishLock.
void note_run_name(const std::filesystem::path& root, const std::string& run_id) noexcept;

// The ids in the file that start with `prefix` and still name a directory (deduplicated; the
// scan stops at the second: the caller only needs to know "one" or "several"), or nullopt if there
// is no usable file (missing, not ours, unreadable).
std::optional<std::vector<std::string>> names_with_prefix(const SpoolRoot& root,
                                                          const std::string& prefix);

// Replaces the file with a readdir of the root made under the exclusive lock (see
// NamesPublishLock), atomically; or removes it when there are fewer than k_names_min_runs.
// Errors ignored (a read-only spool simply has no file).
void rewrite_names(const SpoolRoot& root) noexcept;

} // namespace chaperone::spool
