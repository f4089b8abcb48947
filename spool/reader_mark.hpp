// spool/reader_mark.hpp: a follower's mark on a run, so `gc` never removes a followed run.
#pragma once

#include "spool/file_lock.hpp"
#include "spool/run_dir.hpp"

namespace chaperone::spool {

// <run>/readers: each follower holds a shared flock on it for as long as it follows; `gc`
// removes a run only while it can take it exclusively (and takes the run out of sight
// before letting go), so a run is never removed under a reader.
constexpr const char* k_readers_file = "readers";

// Takes the shared mark (waiting while a `gc` holds it). Returns an empty FileLock if the
// file cannot be opened (the run is gone, or the spool is read-only): following goes on.
FileLock mark_as_reader(const RunDir& run) noexcept;

// Takes the exclusive mark without waiting; empty if some reader holds it.
FileLock try_mark_for_removal(const RunDir& run);

} // namespace chaperone::spool
