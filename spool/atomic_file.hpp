// spool/atomic_file.hpp: replace a file so readers see the old or the new content, never a mix.
#pragma once

#include "spool/fd.hpp"

#include <filesystem>
#include <string_view>

namespace chaperone::spool {

// Writes to a temp file (O_EXCL, 0600) beside the destination; commit() fsyncs it, renames
// it over the destination and fsyncs the directory, so a committed file survives a crash.
// Destroyed without commit(), it removes the temp file.
class AtomicFile {
public:
  explicit AtomicFile(std::filesystem::path destination);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  AtomicFile(AtomicFile&&) = delete;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  void write(std::string_view data);
  // Throws system_error naming the failing call and path; the destination is then untouched.
  void commit();

private:
  std::filesystem::path m_destination;
  std::filesystem::path m_temp_path;
  Fd m_fd;
  bool m_committed = false;
};

// Convenience: AtomicFile(path).write(data).commit().
void write_file_atomically(const std::filesystem::path& path, std::string_view data);

} // namespace chaperone::spool
