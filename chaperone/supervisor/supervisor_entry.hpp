// chaperone/supervisor/supervisor_entry.hpp: what makes a process the run's supervisor,
// shared by the two ways one starts: chaperone-supervisor's main (an exec, started by the
// front end) and a fork of the front end without exec (client/in_image_start.hpp).
#pragma once

#include "chaperone/supervisor/supervisor.hpp"

#include <optional>
#include <string>
#include <vector>

namespace chaperone {

// The process-wide settings a supervisor runs with: umask 077, SIGHUP and SIGPIPE ignored
// (a dropped terminal or ssh link must not end the run, a vanished reader must not kill us
// mid-write), cwd "/" (not pinning the caller's directory). Signal dispositions other than
// those two and the signal mask are the caller's to reset. Never throws.
void prepare_supervisor_process();

// The rest of chaperone-supervisor's main: parses `args` (its argv without argv[0]: RUN_DIR
// first), waits for the run to be published if asked to, then supervises, mirrors a far run
// or resumes from chaperone-hold. `in_image_binary` is empty for the exec'd supervisor;
// a forked one names the chaperone-supervisor binary it is standing in for (its hand-offs
// resume into that binary, not into the front end it is a copy of). Returns the exit
// status; errors go to stderr as "chaperone-supervisor: ..." lines. Never throws.
// A forked one also passes what the front end wrote to the run (SupervisorOptions::written).
// It also passes the title it is to take (SupervisorOptions::title) and the fd its caller
// sleeps on (SupervisorOptions::caller_wake_fd; closed here on every way out).
int run_supervisor(std::vector<std::string> args,
                   const std::string& in_image_binary,
                   std::optional<WrittenRun> written = std::nullopt,
                   std::optional<DeferredTitle> title = std::nullopt,
                   int caller_wake_fd = -1);

} // namespace chaperone
