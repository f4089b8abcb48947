// spool/release_later.cpp: see release_later.hpp.
#include "spool/release_later.hpp"

#include <sys/stat.h>
#include <unistd.h>

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

void ReleaseLater::trim_later(Fd file, const timespec& mtime) {
  m_trim = std::move(file);
  m_mtime = mtime;
}

void ReleaseLater::release() noexcept {
  if (m_trim.valid()) {
    struct stat st {};
    // Only when there is a tail: an ftruncate to the same size frees the blocks past the
    // end (ext4 truncates preallocations even then), but it also moves the mtime.
    if (::fstat(m_trim.get(), &st) == 0 && S_ISREG(st.st_mode)
        && st.st_blocks * 512 > ((st.st_size + st.st_blksize - 1) / st.st_blksize) * st.st_blksize
        && ::ftruncate(m_trim.get(), st.st_size) == 0) {
      const timespec times[2] = {{0, UTIME_OMIT}, m_mtime};
      (void)::futimens(m_trim.get(), times);
    }
    m_trim.reset();
  }
  m_open.clear();
}

} // namespace chaperone::spool
