// spool/run_list.hpp: enumerating the runs in a spool and naming one from the command line.
#pragma once

#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace chaperone::spool {

struct RunEntry {
  std::string run_id;
  ino_t dir_inode; // from the directory entry itself: free, and checks the run index
};

// All runs in the root, in directory order. Hidden entries (runs being created, temp files,
// the index) are skipped; so is anything that is not a directory (a planted symlink).
std::vector<RunEntry> list_runs(const SpoolRoot& root);

// Just the ids of list_runs().
std::vector<std::string> list_run_ids(const SpoolRoot& root);

// Resolves `text` (a full id, a --name, or a unique prefix of an id) to a run; std::nullopt
// when no run matches (an expected outcome, not an error). Throws std::runtime_error for a
// malformed id, "run prefix TEXT is ambiguous: a, b, c", or a run entry that is not a
// directory.
std::optional<RunDir> lookup_run(const SpoolRoot& root, const std::string& text);

// lookup_run() for callers that need the run: no match throws std::runtime_error
// "no such run: TEXT".
RunDir find_run(const SpoolRoot& root, const std::string& text);

} // namespace chaperone::spool
