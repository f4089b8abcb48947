// chaperone/client/in_image_start.cpp: see in_image_start.hpp.
#include "chaperone/client/in_image_start.hpp"

#include "chaperone/supervisor/process_title.hpp"
#include "chaperone/supervisor/supervisor_entry.hpp"
#include "spool/fd.hpp"
#include "spool/run_dir.hpp"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace chaperone {

bool may_start_in_image(const std::filesystem::path& supervisor_binary) {
  spool::Fd fd{::open(supervisor_binary.c_str(), O_RDONLY | O_CLOEXEC)};
  char magic[4] = {};
  return fd.valid() && ::pread(fd.get(), magic, sizeof magic, 0) == sizeof magic
         && std::memcmp(magic,
                        "\x7f"
                        "ELF",
                        sizeof magic)
                == 0;
}

namespace {

struct CodeSegment {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
};

// The executable PT_LOAD segment of our own image (the first object dl_iterate_phdr visits),
// page-aligned: the bounds of the one mapping the kernel made of it.
int find_code_segment(dl_phdr_info* info, std::size_t, void* data) {
  auto* segment = static_cast<CodeSegment*>(data);
  auto page_size = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type == PT_LOAD && (header.p_flags & PF_X) != 0) {
      std::uintptr_t start = info->dlpi_addr + header.p_vaddr;
      segment->start = start & ~(page_size - 1);
      segment->end = (start + header.p_memsz + page_size - 1) & ~(page_size - 1);
      return 1;
    }
  }
  return 1; // only our own image
}

} // namespace

void share_code_mappings_with_forks() {
  static bool done = false;
  if (done) {
    return;
  }
  done = true;
  CodeSegment code;
  ::dl_iterate_phdr(find_code_segment, &code);
  if (code.start == 0 || code.end <= code.start) {
    return;
  }
  // The whole mapping at once: a part of it would be split off into a mapping of its own,
  // which the kernel does not merge back once it has an anon_vma.
  // An address from the program headers: there is no pointer to derive it from.
  auto* start = reinterpret_cast<unsigned char*>(code.start); // NOLINT(performance-no-int-to-ptr)
  std::size_t size = code.end - code.start;
  if (::mprotect(start, size, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
    return;
  }
  volatile unsigned char* byte = start;
  *byte = *byte; // the copy-on-write that attaches the anon_vma
  (void)::mprotect(start, size, PROT_READ | PROT_EXEC);
}

void become_supervisor_in_image(const std::vector<std::string>& argv,
                                char** env,
                                WrittenRun written) {
  // Nothing may unwind from here into the front end's frames: their destructors and catch
  // blocks (a staged run discarded) belong to the front end, not to its copy.
  try {
    // The title itself waits until the program has started (SupervisorOptions::title); a
    // kernel that could not give it gets the exec'd supervisor instead, as before.
    if (argv.empty() || !process_title_supported()) {
      return;
    }
    environ = env;
    // The front end's process-wide settings are not the supervisor's: a reader's hook that
    // starts a new follower for a durable far run (cli's install_far_reviver) would make
    // the gate's look at an --after run do what an exec'd supervisor never does.
    spool::set_revive_hook({});
    prepare_supervisor_process();
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    ::_exit(run_supervisor(
        std::move(args), argv.front(), std::move(written), DeferredTitle{argv, env}));
  } catch (...) {
    ::_exit(1);
  }
}

} // namespace chaperone
