// spool/atomic_file.cpp: temp + fsync + rename + fsync(dir).
#include "spool/atomic_file.hpp"

#include "spool/error.hpp"
#include "spool/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio> // renameat2, RENAME_EXCHANGE (glibc, _GNU_SOURCE)
#include <string>
#include <system_error>

namespace chaperone::spool {

AtomicFile::AtomicFile(std::filesystem::path destination, Durability durability)
    : m_destination(std::move(destination)), m_durability(durability) {
  // mkostemp would do, but it wants a mutable char buffer; the name only needs to be unique
  // among writers of this directory, and O_EXCL makes a clash an error rather than a mix.
  std::string templ =
      (m_destination.parent_path() / ("." + m_destination.filename().string() + ".XXXXXX"))
          .string();
  int fd = ::mkostemp(templ.data(), O_CLOEXEC);
  if (fd < 0) {
    throw_errno("mkostemp " + templ);
  }
  m_fd.reset(fd);
  m_temp_path = templ;
}

AtomicFile::AtomicFile(std::filesystem::path destination,
                       const std::filesystem::path& existing,
                       Durability durability)
    : m_destination(std::move(destination)), m_temp_path(existing), m_durability(durability),
      m_reused(true) {
  // O_NONBLOCK: a fifo planted under that name must not hang us (it fails the check below).
  m_fd = open_or_throw(existing, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
  struct stat st {};
  if (::fstat(m_fd.get(), &st) != 0) {
    throw_errno("fstat " + existing.string());
  }
  // One name only: writing through a second one would change another file's content.
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            existing.string() + ": not a regular file with one name");
  }
  m_initial_size = static_cast<std::uint64_t>(st.st_size);
}

AtomicFile::~AtomicFile() {
  if (!m_committed && !m_reused && !m_temp_path.empty()) {
    ::unlink(m_temp_path.c_str());
  }
}

void AtomicFile::write(std::string_view data) {
  write_all(m_fd.get(), data, m_temp_path.string());
  m_length += data.size();
  m_cut = false;
}

void AtomicFile::cut_to_length() {
  // Once only after the last write: every ftruncate sets the mtime (even to the same size),
  // which would undo set_mtime().
  if (!m_reused || m_cut) {
    return;
  }
  // Past what was written is old content (must go), or only blocks preallocated past the
  // end, which the same ftruncate frees unless the caller gives them back later.
  if (m_keep_tail && m_length >= m_initial_size) {
    m_cut = true;
    return;
  }
  if (::ftruncate(m_fd.get(), static_cast<off_t>(m_length)) != 0) {
    throw_errno("ftruncate " + m_temp_path.string());
  }
  m_cut = true;
}

Fd AtomicFile::duplicate_fd() const {
  Fd copy{::fcntl(m_fd.get(), F_DUPFD_CLOEXEC, 0)};
  if (!copy.valid()) {
    throw_errno("dup " + m_temp_path.string());
  }
  return copy;
}

void AtomicFile::set_mtime(const struct timespec& time) {
  cut_to_length(); // a truncate later would move the mtime again
  const struct timespec times[2] = {time, time};
  if (::futimens(m_fd.get(), times) != 0) {
    throw_errno("futimens " + m_temp_path.string());
  }
}

void AtomicFile::sync(const std::vector<SyncTarget>& along) {
  if (m_durability == Durability::durable && !m_synced) {
    cut_to_length();
    std::vector<SyncTarget> targets{{m_fd.get(), m_temp_path.string()}};
    targets.insert(targets.end(), along.begin(), along.end());
    fsync_together(targets);
    m_synced = true;
  }
}

void AtomicFile::commit(const std::vector<std::filesystem::path>& also_dirs) {
  cut_to_length();
  sync();
  m_fd.reset();
  publish();
  m_committed = true;
  if (m_durability == Durability::durable) {
    std::vector<std::filesystem::path> dirs{m_destination.parent_path()};
    dirs.insert(dirs.end(), also_dirs.begin(), also_dirs.end());
    std::vector<Fd> fds;
    std::vector<SyncTarget> targets;
    for (const std::filesystem::path& dir : dirs) {
      fds.push_back(open_or_throw(dir, O_RDONLY | O_DIRECTORY));
      targets.push_back({fds.back().get(), dir.string()});
    }
    fsync_together(targets);
  }
}

void AtomicFile::publish() {
  if (!m_keep_replaced_as.empty()) {
    if (::renameat2(AT_FDCWD, m_temp_path.c_str(), AT_FDCWD, m_destination.c_str(), RENAME_EXCHANGE)
        == 0) {
      // The temp's name now holds the replaced file. Only a new name is taken: an existing
      // one may be a file somebody still reads.
      if (::renameat2(
              AT_FDCWD, m_temp_path.c_str(), AT_FDCWD, m_keep_replaced_as.c_str(), RENAME_NOREPLACE)
          == 0) {
        m_kept_replaced = true;
      } else {
        ::unlink(m_temp_path.c_str());
      }
      return;
    }
    // EINVAL/ENOSYS/EOPNOTSUPP: no swap on this file system; ENOENT: no destination yet.
    // Both fall back to the plain rename; any other error is the rename's error too.
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != ENOENT) {
      throw_errno("renameat2 (RENAME_EXCHANGE) " + m_temp_path.string() + " and "
                  + m_destination.string());
    }
  }
  if (::rename(m_temp_path.c_str(), m_destination.c_str()) != 0) {
    throw_errno("rename " + m_temp_path.string() + " to " + m_destination.string());
  }
}

void write_file_atomically(const std::filesystem::path& path,
                           std::string_view data,
                           Durability durability) {
  AtomicFile file(path, durability);
  file.write(data);
  file.commit();
}

} // namespace chaperone::spool
