// chaperone/supervisor_main.cpp: entry point of chaperone-supervisor, started by the front
// end in its own session with the run's lock on fd 3. Kept apart from the CLI so that the
// process that lives for the whole run carries no command-line parser.
#include "chaperone/supervisor/hand_off.hpp"
#include "chaperone/supervisor/logging.hpp"
#include "chaperone/supervisor/mirror.hpp"
#include "chaperone/supervisor/publication.hpp"
#include "chaperone/supervisor/supervisor.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  ::umask(077);
  // A dropped terminal or ssh link must not end the run; a vanished pipe reader must not
  // kill us mid-write.
  (void)::signal(SIGHUP, SIG_IGN);
  (void)::signal(SIGPIPE, SIG_IGN);
  // Do not pin the caller's directory (an unmountable file system); the program gets its
  // own cwd from the options.
  if (::chdir("/") != 0) {
    (void)std::perror("chaperone-supervisor: chdir /");
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  chaperone::SupervisorOptions options;
  chaperone::Publication publication;
  std::optional<chaperone::ResumePoint> resume; // back from chaperone-hold (hand_off.hpp)
  try {
    publication = chaperone::take_publication_args(args);
    resume = chaperone::take_resume_args(args);
    options = chaperone::parse_supervisor_args(args);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "chaperone-supervisor: %s\n", e.what());
    return 2;
  }
  try {
    if (publication.pipe_fd >= 0
        && !chaperone::await_publication(publication, options.run_dir, options.lock_fd)) {
      return 0; // never visible: nothing to record
    }
    auto logger = chaperone::make_supervisor_logger(options.run_dir / "supervisor.log");
    if (options.mirror) {
      return chaperone::mirror_far_run(options, logger);
    }
    if (resume) {
      return chaperone::resume_supervision(options, *resume, logger);
    }
    return chaperone::supervise(options, logger);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "chaperone-supervisor: %s\n", e.what());
    return 1;
  }
}
