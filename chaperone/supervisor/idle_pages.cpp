// chaperone/supervisor/idle_pages.cpp: see idle_pages.hpp.
#include "chaperone/supervisor/idle_pages.hpp"

#include "spool/fd.hpp"

#include <fcntl.h>
#include <link.h>
#include <malloc.h>
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

// The lowest address of the mapping that holds `address` (the main thread's stack), from
// /proc/self/maps, or 0 if it cannot be told. Parsed as a stream of characters through a
// small buffer: every line starts "begin-end ", in hex.
std::uintptr_t mapping_start(std::uintptr_t address) {
  spool::Fd maps{::open("/proc/self/maps", O_RDONLY | O_CLOEXEC)};
  if (maps.get() < 0) {
    return 0;
  }
  enum class Field { begin, end, rest };
  Field field = Field::begin;
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  std::array<char, 512> buffer{};
  for (;;) {
    ssize_t got = ::read(maps.get(), buffer.data(), buffer.size());
    if (got <= 0) {
      return 0; // end of file (not found) or an error: unknown
    }
    for (ssize_t i = 0; i < got; ++i) {
      char c = buffer[static_cast<std::size_t>(i)];
      if (c == '\n') {
        field = Field::begin;
        begin = 0;
        end = 0;
        continue;
      }
      if (field == Field::rest) {
        continue;
      }
      if (c == '-' || c == ' ') {
        if (field == Field::end && address >= begin && address < end) {
          return begin;
        }
        field = field == Field::begin ? Field::end : Field::rest;
        continue;
      }
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) {
        field = Field::rest; // not a maps line as expected: skip it
        continue;
      }
      std::uintptr_t& value = field == Field::begin ? begin : end;
      value = value * 16 + static_cast<std::uintptr_t>(digit);
    }
  }
}

// Gives back the stack pages below this function's frame, down to `stack_start`. Nothing
// below the stack pointer is live (the x86-64 ABI's red zone, 128 bytes, belongs to the
// running function, and a signal frame is built below it): what is there was left by
// start-up's deeper calls (parsing, spawning, formatting) and by the helpers above, and the
// loop's wait reaches down again only as far as it needs, faulting in zeroed pages. k_margin
// keeps madvise's own return address, pushed just below this frame, on a page that stays.
// Runs after the binary's pages are dropped: it calls nothing but madvise, so that no code or
// constants (sysconf's tables) fault back in for it.
[[gnu::noinline]] void drop_stack_below_here(std::uintptr_t stack_start,
                                             std::uintptr_t page) noexcept {
  constexpr std::uintptr_t k_margin = 512;
  // The frame's address, not a local's: under AddressSanitizer locals may live on its "fake
  // stack" (a heap mapping), the frame itself never does.
  auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  std::uintptr_t end = (here - k_margin) & ~(page - 1);
  if (stack_start != 0 && end > stack_start) {
    drop_pages(stack_start, end);
  }
}

} // namespace

void release_startup_pages() noexcept {
  // The heap's top: start-up's peak (texts of spec.json and state.json, their trees, the
  // spawn's vectors) reached pages above what stays live; once freed they are one free chunk
  // at the top, which this hands back (brk is lowered). Chunks parked in glibc's tcache are not
  // merged, so a page with any of them stays. First, so that its code is dropped below.
  (void)::malloc_trim(0);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t stack_start =
      mapping_start(reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)));
  Ranges ranges;
  (void)::dl_iterate_phdr(collect_read_only_segments, &ranges);
  spool::Fd pagemap{::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)};
  if (pagemap.get() >= 0) {
    for (std::size_t i = 0; i < ranges.count; ++i) {
      drop_file_pages(pagemap.get(), ranges.items[i]);
    }
  }
  // Last, from this shallow frame: the helpers above (a page of pagemap entries among them)
  // are dead stack too now.
  drop_stack_below_here(stack_start, page);
}

} // namespace chaperone
