// chaperone/supervisor/supervisor_entry.cpp: see supervisor_entry.hpp.
#include "chaperone/supervisor/supervisor_entry.hpp"

#include "chaperone/supervisor/hand_off.hpp"
#include "chaperone/supervisor/logging.hpp"
#include "chaperone/supervisor/mirror.hpp"
#include "chaperone/supervisor/publication.hpp"
#include "chaperone/supervisor/supervisor.hpp"
#include "spool/fd.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>

namespace chaperone {

void prepare_supervisor_process() {
  ::umask(077);
  (void)::signal(SIGHUP, SIG_IGN);
  (void)::signal(SIGPIPE, SIG_IGN);
  // The program gets its own cwd from the options.
  if (::chdir("/") != 0) {
    (void)std::perror("chaperone-supervisor: chdir /");
  }
}

int run_supervisor(std::vector<std::string> args,
                   const std::string& in_image_binary,
                   std::optional<WrittenRun> written,
                   std::optional<DeferredTitle> title,
                   int caller_wake_fd) {
  // Ours from here: a way out that does not hand it to the Supervisor closes it, and the
  // caller that sleeps on it goes on.
  spool::Fd caller_wake{caller_wake_fd};
  SupervisorOptions options;
  Publication publication;
  std::optional<ResumePoint> resume; // back from chaperone-hold (hand_off.hpp)
  try {
    publication = take_publication_args(args);
    resume = take_resume_args(args);
    options = parse_supervisor_args(args);
    options.in_image_binary = in_image_binary;
    options.written = std::move(written);
    options.title = std::move(title);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "chaperone-supervisor: %s\n", e.what());
    return 2;
  }
  try {
    if (publication.pipe_fd >= 0
        && !await_publication(publication, options.run_dir, options.lock_fd)) {
      return 0; // never visible: nothing to record
    }
    auto logger = make_supervisor_logger(options.run_dir / "supervisor.log");
    if (options.mirror) {
      return mirror_far_run(options, logger);
    }
    if (resume) {
      return resume_supervision(options, *resume, logger);
    }
    options.caller_wake_fd = caller_wake.release();
    return supervise(options, logger);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "chaperone-supervisor: %s\n", e.what());
    return 1;
  }
}

} // namespace chaperone
