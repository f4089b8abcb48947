// cmdbuild/systemd_scope.hpp: the argv prefix that starts the supervisor in a transient
// systemd scope of its own, out of the caller's cgroup.
#pragma once

#include <string>
#include <vector>

namespace chaperone::cmdbuild {

// `systemd_run` (its path) with --scope (and --user unless `as_root`, whose scopes belong to
// the system manager), quiet, collected when done, ending in "--": the supervisor's argv
// follows. Why: a run started from inside a service unit is in that unit's cgroup and is
// killed with it when the unit stops (KillMode=control-group); a scope of its own is not.
std::vector<std::string> systemd_scope_argv(const std::string& systemd_run, bool as_root);

} // namespace chaperone::cmdbuild
