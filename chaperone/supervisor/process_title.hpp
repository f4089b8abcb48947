// chaperone/supervisor/process_title.hpp: what a supervisor started without an exec shows
// in /proc/PID/cmdline and comm.
//
// A supervisor forked from the front end (client/in_image_start.hpp) runs the front end's
// image until its first hand-off. People (`ps`, `pgrep -f RUN_DIR`) and tools find a run's
// supervisor by its command line, "chaperone-supervisor RUN_DIR ...", and by its name,
// "chaperone-super": it gets both, as the exec'd supervisor has them.
#pragma once

#include <string>
#include <vector>

namespace chaperone {

// Points the kernel's record of our argument and environment areas at a copy of `argv` and
// of `env` (prctl PR_SET_MM_MAP, allowed without privileges for exactly this), so that
// /proc/PID/cmdline and /proc/PID/environ read them, and sets comm to the basename of
// argv[0], cut to 15 bytes as an exec would. The copy lives in the heap until the process
// ends or execs (/proc reads these areas from anonymous memory only). `env` is a
// null-terminated array, as `environ`. Returns an empty string, or the failed step with its
// errno.
std::string set_process_title(const std::vector<std::string>& argv, char** env);

// Whether set_process_title() can work here (the kernel has PR_SET_MM_MAP): one prctl, for
// a caller that must choose before it can afford the title itself.
bool process_title_supported();

} // namespace chaperone
