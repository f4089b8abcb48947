// cmdbuild/systemd_scope.cpp: systemd-run --scope in front of the supervisor.
#include "cmdbuild/systemd_scope.hpp"

namespace chaperone::cmdbuild {

std::vector<std::string> systemd_scope_argv(const std::string& systemd_run, bool as_root) {
  std::vector<std::string> argv{systemd_run};
  if (!as_root) {
    argv.emplace_back("--user");
  }
  // --scope: systemd-run registers a scope for its own pid and then execs the command, so
  // the supervisor keeps that pid, its session and the run's lock fd.
  argv.insert(argv.end(),
              {"--scope", "--quiet", "--collect", "--description=chaperone supervisor", "--"});
  return argv;
}

} // namespace chaperone::cmdbuild
