// chaperone/chaperone.hpp: the public C++ API in one include, for callers without the CLI.
//
// What a C++ program calls (link chaperone::client; see tests/consumer/ for a project that
// builds against the installed package):
//
//   launch    auto root = spool::SpoolRoot::open(
//                 spool::default_spool_root(getenv("CHAPERONE_SPOOL"),
//                                           getenv("XDG_STATE_HOME"), getenv("HOME")), true);
//             chaperone::LaunchRequest request;            // program, target, limits
//             request.program.argv = {"make", "test"};
//             request.supervisor_path = chaperone::default_supervisor_path();
//             chaperone::LaunchedRun run = chaperone::launch_run(root, request);
//   follow    spool::Follower (spool/follower.hpp) streams stdout/stderr from any offsets
//             until the run is final, and returns the final state.
//   wait      the same Follower with no output sinks; or poll run.read_state_resolving_lost().
//   kill      chaperone::signal_run(run, SIGTERM) signals the program's whole group.
//   inspect   spool::RunDir::read_state() / read_spec(), spool::list_runs() (spool/run_list.hpp).
//
// Remote targets come from cmdbuild::Target (cmdbuild/command.hpp); nothing here parses a
// command line.
#pragma once

#include "chaperone/client/launch.hpp"     // IWYU pragma: export
#include "chaperone/client/signal_run.hpp" // IWYU pragma: export
#include "cmdbuild/command.hpp"            // IWYU pragma: export
#include "spool/follower.hpp"              // IWYU pragma: export
#include "spool/run_dir.hpp"               // IWYU pragma: export
#include "spool/run_list.hpp"              // IWYU pragma: export
#include "spool/spool_root.hpp"            // IWYU pragma: export
