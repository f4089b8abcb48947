// tests/unit/supervisor/idle_pages_test.cpp: release_startup_pages() on this test process's
// own mappings, read back through /proc/self/pagemap as the kernel reports them.
#include "chaperone/supervisor/idle_pages.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// Constants of the binary, in its read-only segment. The blob is larger than the largest
// page-cache folio (2 MiB), so its middle page is only mapped again if something reads it.
constexpr std::size_t k_blob_size = (4U << 20) + 2 * 4096;
alignas(4096) extern const char k_idle_pages_blob[k_blob_size];
alignas(4096) const char k_idle_pages_blob[k_blob_size] = {'b', 'l', 'o', 'b'};
alignas(4096) extern const char k_idle_pages_copy[4096];
alignas(4096) const char k_idle_pages_copy[4096] = {'f', 'i', 'l', 'e'};

namespace chaperone {
namespace {

std::uint64_t pagemap_entry(std::uintptr_t address) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::uint64_t entry = 0;
  auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto offset = static_cast<off_t>(address / page * sizeof(entry));
  ssize_t n = ::pread(fd, &entry, sizeof(entry), offset);
  ::close(fd);
  REQUIRE(n == static_cast<ssize_t>(sizeof(entry)));
  return entry;
}

std::uint64_t pagemap_entry(const void* address) {
  return pagemap_entry(reinterpret_cast<std::uintptr_t>(address));
}

constexpr std::uint64_t k_present = 1ULL << 63;
constexpr std::uint64_t k_file = 1ULL << 61;

bool in_read_only_segment(const void* address) {
  struct Query {
    std::uintptr_t address;
    bool found;
  } query{reinterpret_cast<std::uintptr_t>(address), false};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto* q = static_cast<Query*>(data);
        for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W) == 0 && q->address >= begin
              && q->address < begin + ph.p_memsz) {
            q->found = true;
          }
        }
        return 1;
      },
      &query);
  return query.found;
}

TEST_CASE("the binary's constants that were read are unmapped until read again", "[supervisor]") {
  const volatile char* blob = k_idle_pages_blob;
  REQUIRE(in_read_only_segment(k_idle_pages_blob));
  unsigned sum = 0;
  for (std::size_t i = 0; i < k_blob_size; i += 4096) {
    sum += static_cast<unsigned char>(blob[i]);
  }
  CHECK(sum == 'b');
  const char* middle = k_idle_pages_blob + k_blob_size / 2;
  REQUIRE((pagemap_entry(middle) & (k_present | k_file)) == (k_present | k_file));

  release_startup_pages();

  CHECK((pagemap_entry(middle) & k_present) == 0);
  CHECK(blob[0] == 'b'); // faults back in from the file
  CHECK((pagemap_entry(k_idle_pages_blob) & k_present) == k_present);
}

TEST_CASE("a page of the binary held as a private copy keeps its contents", "[supervisor]") {
  // What a debugger's breakpoint or a uprobe does to a page of code: the process gets its
  // own copy. Dropping it would bring back the file's bytes.
  void* page = const_cast<char*>(k_idle_pages_copy);
  REQUIRE(in_read_only_segment(page));
  REQUIRE(::mprotect(page, 4096, PROT_READ | PROT_WRITE) == 0);
  static_cast<volatile char*>(page)[0] = 'C';
  REQUIRE(::mprotect(page, 4096, PROT_READ) == 0);
  REQUIRE((pagemap_entry(page) & (k_present | k_file)) == k_present);

  release_startup_pages();

  CHECK(static_cast<const volatile char*>(page)[0] == 'C');
  CHECK((pagemap_entry(page) & (k_present | k_file)) == k_present);
}

// A deep call, as start-up's parsing and spawning make: writes a page far below the caller's
// frame and returns its address (the page is dead stack from then on).
[[gnu::noinline]] std::uintptr_t dirty_deep_stack() {
  constexpr std::size_t k_depth = std::size_t{64} * 1024;
  volatile char deep[k_depth];
  deep[0] = 'd';
  deep[k_depth - 1] = 'd';
  // Only the number leaves: the test reads the page's state, never the memory.
  // NOLINTNEXTLINE(clang-analyzer-core.StackAddressEscape)
  return reinterpret_cast<std::uintptr_t>(&deep[0]);
}

TEST_CASE("the stack below the caller that start-up left dirty is given back", "[supervisor]") {
  volatile char here = 'h';
  std::uintptr_t deep = dirty_deep_stack();
  REQUIRE(deep < reinterpret_cast<std::uintptr_t>(&here));
  REQUIRE((pagemap_entry(deep) & k_present) == k_present);

  release_startup_pages();

  CHECK((pagemap_entry(deep) & k_present) == 0);
  CHECK(here == 'h'); // the caller's own frame is untouched
}

// Only where glibc's allocator serves malloc: AddressSanitizer replaces it (mallopt and
// malloc_trim do nothing there), so the ASan build (scripts/test --sanitize) does not have
// this case; the plain build runs it.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("heap pages that start-up freed at the top are given back", "[supervisor]") {
  // Larger than the tcache's sizes (parked chunks are never merged), below the mmap
  // threshold: freed, they join the top chunk and stay mapped until a trim (glibc's own trim
  // on free is held off here, as it is for the supervisor's small start-up heap).
  REQUIRE(::mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1);
  constexpr std::size_t k_blocks = 8;
  constexpr std::size_t k_block = 8192;
  std::array<char*, k_blocks> blocks{};
  for (char*& block : blocks) {
    block = static_cast<char*>(std::malloc(k_block)); // NOLINT(cppcoreguidelines-no-malloc)
    REQUIRE(block != nullptr);
    std::memset(block, 'x', k_block);
  }
  // A page wholly inside the last block.
  auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::uintptr_t inside =
      (reinterpret_cast<std::uintptr_t>(blocks.back()) + page - 1) & ~(page - 1);
  REQUIRE(inside + page <= reinterpret_cast<std::uintptr_t>(blocks.back()) + k_block);
  for (char* block : blocks) {
    std::free(block); // NOLINT(cppcoreguidelines-no-malloc); each merges with the one before
  }
  REQUIRE((pagemap_entry(inside) & k_present) == k_present);

  release_startup_pages();

  CHECK((pagemap_entry(inside) & k_present) == 0);
  (void)::mallopt(M_TRIM_THRESHOLD, 128 * 1024); // glibc's default
}
#endif

} // namespace
} // namespace chaperone
