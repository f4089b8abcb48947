// spool/release_later.cpp: see release_later.hpp.
#include "spool/release_later.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace chaperone::spool {

void ReleaseLater::keep_open(Fd file) {
  if (!file.valid()) {
    return;
  }
  if (m_open.size() >= k_max_open) {
    m_open.erase(m_open.begin());
  }
  m_open.push_back(std::move(file));
}

const char* ReleaseLater::kept_name(bool final_state) {
  if (final_state) {
    return k_last_replaced;
  }
  if (m_first_kept) {
    return "";
  }
  m_first_kept = true;
  return k_first_replaced;
}

void ReleaseLater::empty_later(std::filesystem::path file) {
  m_empty.push_back(std::move(file));
}

ReleaseLater::Position ReleaseLater::position() const {
  Position position;
  position.first_kept = m_first_kept;
  for (const std::filesystem::path& path : m_empty) {
    position.first_to_empty = position.first_to_empty || path.filename() == k_first_replaced;
  }
  return position;
}

void ReleaseLater::restore(const Position& position, const std::filesystem::path& run_dir) {
  m_first_kept = position.first_kept;
  if (position.first_to_empty) {
    m_empty.push_back(run_dir / k_first_replaced);
  }
}

namespace {

// Takes a write lease on `file`: granted only while no other open file description has the
// file open for writing (fcntl(2), F_SETLEASE), and while it is held an open elsewhere waits
// for us. The lease makes us the owner that a lease break signals with SIGIO, whose default
// action ends the process: the owner is cleared, so an opener just waits for the unlock.
bool take_write_lease(int file) {
  if (::fcntl(file, F_SETLEASE, F_WRLCK) != 0) {
    return false;
  }
  (void)::fcntl(file, F_SETOWN, 0);
  return true;
}

// take_write_lease, looked for again while another open refuses it (EAGAIN), for ~130 ms at
// most: the final state.json is read by whoever the let-go just woke (`chaperone wait ID;
// cat .../state.json`), and the let-go comes before this, so the reader is often still
// there at the first try. The supervisor has let go already: nobody waits for these pauses.
bool take_write_lease_soon(int file) {
  for (long pause_ms = 1;; pause_ms *= 2) {
    if (take_write_lease(file)) {
      return true;
    }
    if (errno != EAGAIN || pause_ms > 64) {
      return false;
    }
    timespec pause{0, pause_ms * 1'000'000L};
    (void)::nanosleep(&pause, nullptr);
  }
}

// Empties `path` if no other open file description refers to it.
void empty_if_unread(const std::filesystem::path& path) {
  Fd file{::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (!file.valid()) {
    return;
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0
      || !take_write_lease(file.get())) {
    return;
  }
  (void)::ftruncate(file.get(), 0);
  (void)::fcntl(file.get(), F_SETLEASE, F_UNLCK);
}

} // namespace

void ReleaseLater::trim_later(Fd file, std::uint64_t size, const timespec& mtime) {
  m_trim = std::move(file);
  m_trim_size = size;
  m_mtime = mtime;
}

void ReleaseLater::release() noexcept {
  if (m_trim.valid() && take_write_lease_soon(m_trim.get())) {
    struct stat st {};
    // Only when there is a tail: an ftruncate to the same size frees the blocks past the
    // end (ext4 truncates preallocations even then), but it also moves the mtime.
    if (::fstat(m_trim.get(), &st) == 0 && S_ISREG(st.st_mode)
        && static_cast<std::uint64_t>(st.st_size) == m_trim_size
        && st.st_mtim.tv_sec == m_mtime.tv_sec && st.st_mtim.tv_nsec == m_mtime.tv_nsec
        && st.st_blocks * 512 > ((st.st_size + st.st_blksize - 1) / st.st_blksize) * st.st_blksize
        && ::ftruncate(m_trim.get(), st.st_size) == 0) {
      const timespec times[2] = {{0, UTIME_OMIT}, m_mtime};
      (void)::futimens(m_trim.get(), times);
    }
    (void)::fcntl(m_trim.get(), F_SETLEASE, F_UNLCK);
  }
  m_trim.reset();
  m_open.clear(); // first: a lease is refused while any of these is open
  for (const std::filesystem::path& path : m_empty) {
    empty_if_unread(path);
  }
  m_empty.clear();
}

} // namespace chaperone::spool
