// chaperone/attach_session.cpp: following a run from the front end.
#include "chaperone/cli/attach_session.hpp"

#include "chaperone/cli/end_report.hpp"
#include "chaperone/client/signal_run.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/follower.hpp"

#include <spdlog/logger.h>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

namespace chaperone {

int attach_to_run(const spool::RunDir& run, const AttachOptions& options, CliContext& context) {
  spool::FdSink sink(STDOUT_FILENO, STDERR_FILENO);
  spool::FollowOptions follow;
  follow.stdout_offset = options.stdout_offset;
  follow.stderr_offset = options.stderr_offset;
  follow.want_stdout = options.want_stdout;
  follow.want_stderr = options.want_stderr;
  follow.logger = context.log;
  follow.signals = {SIGINT, SIGTERM, SIGHUP};
  bool detached = false;
  spool::Follower* follower_ptr = nullptr;
  follow.on_signal = [&](int signum) {
    if (signum == SIGHUP) {
      detached = true;
      follower_ptr->stop();
      return;
    }
    try {
      pid_t group = signal_run(run, signum);
      context.log->info("sent {} to run {} (group {})", signal_name(signum), run.run_id(), group);
    } catch (const std::exception& e) {
      context.log->warn("{}", e.what());
    }
  };
  spool::Follower follower(run, follow, sink);
  follower_ptr = &follower;
  spool::RunState state;
  try {
    state = follower.run();
  } catch (const std::system_error& e) {
    if (e.code().value() == EPIPE) {
      return 128 + SIGPIPE;
    }
    throw;
  }
  if (detached) {
    return 128 + SIGHUP;
  }
  report_end(run, state, *context.log);
  return state.cli_exit_code();
}

} // namespace chaperone
