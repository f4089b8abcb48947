// spool/release_later.hpp: the blocks a run gives back only once its caller has the answer.
//
// Freeing blocks is not free everywhere. On ext4 mounted with `discard` and without a journal
// (the test VMs of this project), every free sends a discard to the device and waits for it,
// which costs as much as an fsync (measured: 0.7 ms quiet, ~4 ms busy). A final state write
// freed twice on the way to the exit status: the reserve's unused tail (cut to the state's
// length) and the state it replaced (its inode evicted by the rename). ReleaseLater holds
// both until release(): replaced state files stay open (an inode, and so its blocks, goes at
// the last close), and the final state keeps its preallocated tail until it is trimmed.
//
// Freeing inodes costs later instead: on ext4 without a journal, an inode freed in the last
// minute (five, while its inode table block is dirty) is skipped by every inode allocation
// in its block group, one buffer lookup each, so a loop of runs that each freed two paid for
// all of them (the front end's creates went from ~15 us to ~300 us). So the two states a
// short run replaces, the first one and the one its final state replaces, are not freed at
// all: RENAME_EXCHANGE swaps them out and they stay in the run dir under the names
// kept_name() gives (until `gc` removes the run). Only a long run's further states go.
// release() empties the kept ones (their blocks go, their inodes stay), unless somebody
// still has one open: a reader that opened state.json just before it was swapped out reads
// the content it opened.
#pragma once

#include "spool/fd.hpp"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <vector>

namespace chaperone::spool {

class ReleaseLater {
public:
  ReleaseLater() = default;
  ReleaseLater(const ReleaseLater&) = delete;
  ReleaseLater& operator=(const ReleaseLater&) = delete;
  ReleaseLater(ReleaseLater&&) = default;
  ReleaseLater& operator=(ReleaseLater&&) = delete;
  ~ReleaseLater() { release(); }

  // Keeps `file` (one about to be replaced) open until release(). A long run writes its state
  // many times: past k_max_open the oldest is closed at once, off anybody's wait.
  void keep_open(Fd file);
  // `file` (open for writing) is a published final state of `size` bytes written into a
  // preallocated file: release() cuts the blocks past its end and puts back `mtime` (the run
  // index recorded it; every ftruncate moves it). Only while the file is still exactly what
  // was published and nobody else has it open for writing: a state.json somebody truncated
  // or rewrote meanwhile is left as they left it (an ftruncate to `size` would pad it with
  // zeros, and the mtime put back would make the index vouch for them).
  void trim_later(Fd file, std::uint64_t size, const timespec& mtime);
  // The name to keep the state replaced by the next write under, or "" to let it go: the
  // first replaced state, and the one a final state replaces.
  const char* kept_name(bool final_state);
  // `file` (a kept state, by path) is emptied by release() if nobody else has it open.
  void empty_later(std::filesystem::path file);
  // Trims, closes everything held, then empties the kept states. Errors are ignored: what
  // a failed trim would have freed stays allocated to the file, and no byte of it changes.
  // A reader that has the final state.json open holds the trim back for up to ~130 ms (it
  // is looked for again), after which the tail stays.
  void release() noexcept;

  // Where the naming above stands, for a supervisor that comes back from its hold image
  // (chaperone/supervisor/hand_off.hpp) in a new process image: whether the first replaced
  // state was kept (so the next is not) and whether release() is to empty it. The files kept
  // open are not carried over: they close at the hand-off, a moment nobody waits for.
  struct Position {
    bool first_kept = false;
    bool first_to_empty = false;
  };
  Position position() const;
  // Takes up `position` in a fresh ReleaseLater of the run in `run_dir`.
  void restore(const Position& position, const std::filesystem::path& run_dir);

  static constexpr size_t k_max_open = 8;
  static constexpr const char* k_first_replaced = ".state.replaced.1";
  static constexpr const char* k_last_replaced = ".state.replaced.2";

private:
  std::vector<Fd> m_open;
  Fd m_trim;
  std::uint64_t m_trim_size = 0;
  timespec m_mtime{};
  bool m_first_kept = false;
  std::vector<std::filesystem::path> m_empty;
};

} // namespace chaperone::spool
