// chaperone/client/in_image_start.hpp: the run's supervisor as a fork of the front end,
// without an exec.
//
// Every process start costs this kind of machine ~0.3 ms of glibc start-up (its CPUID
// instructions trap to the hypervisor, docs/bench/LAUNCH-2026-12-03.md), and an exec on top;
// an attached `run` waits for the supervisor's start on its way to the program's. A forked
// supervisor runs the supervisor code linked into the front end (the same sources and
// archives as chaperone-supervisor), from the point where the exec'd one would start: same
// arguments, environment, fds, session, signals, cwd and umask, and the same command line
// and name in /proc (process_title.hpp), taken once the program has started (or before the
// gate of a run that may wait there; never by one whose program ended before its loop was
// ready, which is about to exit): until then it shows the front end's.
//
// Only for runs whose supervisor hands off to chaperone-hold once the program has settled
// (local, no --max-output, no wrapper): the hand-off replaces the front end's image, and
// its pages, with the small hold image, and the resume execs chaperone-supervisor itself.
// The others (remote, --max-output, --hold far, --systemd-scope) exec the supervisor as
// before: they would keep the front end's pages for their whole life.
#pragma once

#include "chaperone/supervisor/supervisor.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace chaperone {

// Whether `supervisor_binary` can stand behind a forked supervisor: it must be there for
// the hand-off's resume. A file that is not even an ELF image goes the exec way, which
// reports exactly why it cannot run.
bool may_start_in_image(const std::filesystem::path& supervisor_binary);

// For spawn_without_waiting's `instead_of_exec`, in the child: becomes the supervisor that
// exec'ing argv with env would have started, and exits with its status. Returns only if it
// cannot (its command line cannot be set): the caller then execs argv after all.
// `written` is what the front end wrote to the run's spec.json and state.json;
// `caller_wake_fd` (-1: none) the fd its caller sleeps on (SupervisorOptions::caller_wake_fd),
// closed at once if this returns.
void become_supervisor_in_image(const std::vector<std::string>& argv,
                                char** env,
                                WrittenRun written,
                                int caller_wake_fd = -1);

} // namespace chaperone
