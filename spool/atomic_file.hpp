// spool/atomic_file.hpp: replace a file so readers see the old or the new content, never a mix.
#pragma once

#include "spool/fd.hpp"
#include "spool/io.hpp"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string_view>
#include <vector>

namespace chaperone::spool {

// durable: survives a power loss once commit() returns (fsync of the file and its directory).
// atomic_only: readers still see the old or the new content, never a mix, but a crash may
// lose the update. Used on the launch path, where fsync dominates the latency and a crash
// would end the run anyway.
enum class Durability { durable, atomic_only };

// Writes to a temp file (O_EXCL, 0600) beside the destination; commit() renames it over the
// destination (fsyncing file and directory when durable). Destroyed without commit(), it
// removes the temp file.
class AtomicFile {
public:
  explicit AtomicFile(std::filesystem::path destination,
                      Durability durability = Durability::durable);
  // Uses `existing`, a file the caller owns beside the destination (e.g. a reserve of
  // allocated blocks, within its size or preallocated past its end), as the temp file:
  // written from offset 0 and cut to length before the rename. No inode is created, and
  // within the allocation no block allocated (so no ENOSPC). Throws system_error (ENOENT if
  // it is not there). Left alone if never committed.
  AtomicFile(std::filesystem::path destination,
             const std::filesystem::path& existing,
             Durability durability);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  AtomicFile(AtomicFile&&) = delete;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  void write(std::string_view data);
  // For a reused file that was empty (its blocks preallocated past the end): what was
  // written is its whole content already, so the cut is skipped and the blocks past the end
  // stay allocated, for the caller to give back later (ReleaseLater). Freeing them can wait
  // for the device.
  void keep_tail() { m_keep_tail = true; }
  // A second fd on the temp file (before commit()), to act on the published file later.
  Fd duplicate_fd() const;
  // commit() then swaps the temp file with the destination (RENAME_EXCHANGE) and moves the
  // replaced file to `name` (a new name beside it) instead of unlinking it: no inode is
  // freed. On ext4 without a journal every inode freed makes each inode made in the next
  // minutes skip it (ialloc's recently_deleted, one buffer lookup each), so a loop of runs
  // that each freed two paid for all the earlier ones' frees. Where the swap is not
  // supported, or `name` is taken, the replaced file goes as with a plain rename.
  void keep_replaced_as(std::filesystem::path name) { m_keep_replaced_as = std::move(name); }
  // After commit(): whether the replaced file was kept under keep_replaced_as's name.
  bool kept_replaced() const { return m_kept_replaced; }
  // Sets the temp file's modification time (kept by the rename), so a caller can record
  // size and mtime of what commit() will publish before it is visible.
  void set_mtime(const struct timespec& time);
  // fsync()s the temp file now (durable only), for a caller that has more to make durable
  // before the rename; commit() then skips that step. `along`: other files to fsync at the
  // same time (fsync_together: one journal commit for all of them on ext4).
  void sync(const std::vector<SyncTarget>& along = {});
  // Throws system_error naming the failing call and path; the destination is then untouched.
  // Durable: the destination's directory is fsynced after the rename, at the same time as
  // `also_dirs` (fsync_together), e.g. the parent that holds a directory made earlier.
  void commit(const std::vector<std::filesystem::path>& also_dirs = {});

private:
  std::filesystem::path m_destination;
  std::filesystem::path m_temp_path;
  Fd m_fd;
  Durability m_durability;
  bool m_synced = false;
  bool m_committed = false;
  bool m_reused = false;            // the temp is the caller's file: truncate it, never unlink it
  std::uint64_t m_length = 0;       // bytes written so far
  bool m_cut = false;               // truncated to m_length since the last write
  bool m_keep_tail = false;         // keep_tail()
  std::uint64_t m_initial_size = 0; // of a reused file, when opened
  std::filesystem::path m_keep_replaced_as; // keep_replaced_as(); empty: a plain rename
  bool m_kept_replaced = false;

  void publish();

  void cut_to_length();
};

// Convenience: AtomicFile(path, durability).write(data).commit().
void write_file_atomically(const std::filesystem::path& path,
                           std::string_view data,
                           Durability durability = Durability::durable);

} // namespace chaperone::spool
