// spool/release_later.hpp: the blocks a run gives back only once its caller has the answer.
//
// Freeing blocks is not free everywhere. On ext4 mounted with `discard` and without a journal
// (the test VMs of this project), every free sends a discard to the device and waits for it,
// which costs as much as an fsync (measured: 0.7 ms quiet, ~4 ms busy). A final state write
// freed twice on the way to the exit status: the reserve's unused tail (cut to the state's
// length) and the state it replaced (its inode evicted by the rename). ReleaseLater holds
// both until release(): replaced state files stay open (an inode, and so its blocks, goes at
// the last close), and the final state keeps its preallocated tail until it is trimmed.
#pragma once

#include "spool/fd.hpp"

#include <ctime>
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
  // `file` (open for writing) is a published final state written into a preallocated file:
  // release() cuts the blocks past its end and puts back `mtime` (the run index recorded it;
  // every ftruncate moves it).
  void trim_later(Fd file, const timespec& mtime);
  // Trims, then closes everything held. Errors are ignored: what a failed trim would have
  // freed stays allocated to the file, and no byte of it changes.
  void release() noexcept;

  static constexpr size_t k_max_open = 8;

private:
  std::vector<Fd> m_open;
  Fd m_trim;
  timespec m_mtime{};
};

} // namespace chaperone::spool
