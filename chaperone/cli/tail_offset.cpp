// chaperone/tail_offset.cpp: backwards newline scan.
#include "chaperone/cli/tail_offset.hpp"

#include "spool/error.hpp"
#include "spool/io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace chaperone {

std::uint64_t offset_of_last_lines(const std::filesystem::path& path, std::uint64_t lines) {
  spool::Fd fd = spool::open_or_throw(path, O_RDONLY);
  std::uint64_t size = spool::file_size(fd.get(), path.string());
  if (lines == 0) {
    return size;
  }
  constexpr std::uint64_t k_block = std::uint64_t{64} * 1024;
  std::vector<char> buffer(k_block);
  std::uint64_t end = size;
  std::uint64_t newlines_seen = 0;
  bool first_byte = true; // the file's very last byte: a trailing newline ends the last line
  while (end > 0) {
    std::uint64_t start = end > k_block ? end - k_block : 0;
    auto length = static_cast<size_t>(end - start);
    ssize_t n;
    do {
      n = ::pread(fd.get(), buffer.data(), length, static_cast<off_t>(start));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      spool::throw_errno("pread " + path.string());
    }
    length = static_cast<size_t>(n);
    for (size_t i = length; i-- > 0;) {
      if (buffer[i] == '\n') {
        if (first_byte) {
          first_byte = false;
          continue;
        }
        if (++newlines_seen == lines) {
          return start + i + 1;
        }
      }
      first_byte = false;
    }
    end = start;
  }
  return 0;
}

} // namespace chaperone
