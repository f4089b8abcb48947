// chaperone/client/in_image_start.cpp: see in_image_start.hpp.
#include "chaperone/client/in_image_start.hpp"

#include "chaperone/supervisor/process_title.hpp"
#include "chaperone/supervisor/supervisor_entry.hpp"
#include "spool/fd.hpp"
#include "spool/run_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

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

void become_supervisor_in_image(const std::vector<std::string>& argv,
                                char** env,
                                WrittenRun written,
                                int caller_wake_fd) {
  // Nothing may unwind from here into the front end's frames: their destructors and catch
  // blocks (a staged run discarded) belong to the front end, not to its copy.
  try {
    // The title itself waits until the program has started (SupervisorOptions::title); a
    // kernel that could not give it gets the exec'd supervisor instead, as before.
    if (argv.empty() || !process_title_supported()) {
      if (caller_wake_fd >= 0) {
        ::close(caller_wake_fd); // the exec'd supervisor does not know it: the caller goes on
      }
      return;
    }
    environ = env;
    // The front end's process-wide settings are not the supervisor's: a reader's hook that
    // starts a new follower for a durable far run (cli's install_far_reviver) would make
    // the gate's look at an --after run do what an exec'd supervisor never does.
    spool::set_revive_hook({});
    prepare_supervisor_process();
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    ::_exit(run_supervisor(std::move(args),
                           argv.front(),
                           std::move(written),
                           DeferredTitle{argv, env},
                           caller_wake_fd));
  } catch (...) {
    ::_exit(1);
  }
}

} // namespace chaperone
