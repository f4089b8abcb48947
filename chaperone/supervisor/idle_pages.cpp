// chaperone/supervisor/idle_pages.cpp: see idle_pages.hpp.
#include "chaperone/supervisor/idle_pages.hpp"

#include "spool/fd.hpp"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace chaperone {

namespace {

struct Range {
  std::uintptr_t begin;
  std::uintptr_t end;
};

// A static binary has three (ELF headers, code, constants); the rest are ignored.
constexpr std::size_t k_max_ranges = 8;

struct Ranges {
  std::array<Range, k_max_ranges> items{};
  std::size_t count = 0;
};

// The executable's loaded segments that are not writable: its code and constants. Writable
// segments are private copies once touched (.data, .bss, .data.rel.ro) and hold live state.
int collect_read_only_segments(dl_phdr_info* info, std::size_t, void* data) {
  auto* out = static_cast<Ranges*>(data);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (ElfW(Half) i = 0; i < info->dlpi_phnum && out->count < k_max_ranges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) {
      continue;
    }
    std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    std::uintptr_t end = begin + ph.p_memsz;
    out->items[out->count++] = {begin & ~(page - 1), (end + page - 1) & ~(page - 1)};
  }
  return 1; // the first object is the executable itself (in a static one, the only one)
}

// Unmaps [begin, end) from this process. The addresses come from the program headers and
// the pagemap, as integers: there is no pointer to derive them from.
void drop_pages(std::uintptr_t begin, std::uintptr_t end) {
  if (end > begin) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
}

// Unmaps the pages of `range` from this process except the ones it holds as private
// (anonymous) copies, which carry their own contents: /proc/self/pagemap tells them apart
// (bit 63: present, bit 61: a page-cache page). The pagemap is read in blocks into a stack
// buffer: no heap page gets dirtied for it.
void drop_file_pages(int pagemap, Range range) {
  constexpr std::uint64_t k_present = 1ULL << 63;
  constexpr std::uint64_t k_file = 1ULL << 61;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::array<std::uint64_t, 512> entries{};
  std::uintptr_t run_begin = range.begin; // start of the pages not yet dropped
  for (std::uintptr_t block = range.begin; block < range.end; block += entries.size() * page) {
    std::size_t count = std::min<std::size_t>(entries.size(), (range.end - block) / page);
    std::size_t bytes = count * sizeof(std::uint64_t);
    auto offset = static_cast<off_t>(block / page * sizeof(std::uint64_t));
    if (::pread(pagemap, entries.data(), bytes, offset) != static_cast<ssize_t>(bytes)) {
      return; // unknown pages are left alone
    }
    for (std::size_t i = 0; i < count; ++i) {
      if ((entries[i] & (k_present | k_file)) == k_present) { // a private copy: keep it
        std::uintptr_t addr = block + i * page;
        drop_pages(run_begin, addr);
        run_begin = addr + page;
      }
    }
  }
  drop_pages(run_begin, range.end);
}

} // namespace

void release_startup_pages() noexcept {
  Ranges ranges;
  (void)::dl_iterate_phdr(collect_read_only_segments, &ranges);
  spool::Fd pagemap{::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)};
  if (pagemap.get() < 0) {
    return;
  }
  // After everything else here, so that little code runs between the drop and the loop's
  // first wait.
  for (std::size_t i = 0; i < ranges.count; ++i) {
    drop_file_pages(pagemap.get(), ranges.items[i]);
  }
}

} // namespace chaperone
