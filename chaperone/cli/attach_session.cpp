// chaperone/attach_session.cpp: following a run from the front end.
#include "chaperone/cli/attach_session.hpp"

#include "chaperone/cli/end_report.hpp"
#include "chaperone/cli/lock_wait.hpp"
#include "chaperone/client/signal_run.hpp"
#include "chaperone/supervisor/on_exit.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/event_sink.hpp"
#include "spool/file_lock.hpp"
#include "spool/follower.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <system_error>

namespace chaperone {

namespace {

void write_event(const spool::Event& event) {
  spool::write_all(STDOUT_FILENO, spool::encode_event(event) + "\n", "write to stdout");
}

} // namespace

int attach_to_run(const spool::RunDir& run,
                  const AttachOptions& options,
                  CliContext& context,
                  KnownRunEnd* seen) {
  std::unique_ptr<spool::OutputSink> sink;
  spool::EventSink* events = nullptr;
  if (options.json) {
    auto event_sink = std::make_unique<spool::EventSink>(
        write_event, options.stdout_offset, options.stderr_offset);
    events = event_sink.get();
    sink = std::move(event_sink);
  } else {
    sink = std::make_unique<spool::FdSink>(STDOUT_FILENO, STDERR_FILENO);
  }
  spool::FollowOptions follow;
  follow.stdout_offset = options.stdout_offset;
  follow.stderr_offset = options.stderr_offset;
  follow.want_stdout = options.want_stdout;
  follow.want_stderr = options.want_stderr;
  follow.inotify_fd = options.inotify_fd;
  follow.supervisor_pidfd = options.supervisor_pidfd;
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
  if (options.json) {
    // One state event per change of (state, pid) that this reader observes; the final
    // state comes once, after all output, as the final event.
    follow.on_state = [last = std::string()](const spool::RunState& state) mutable {
      if (spool::is_final(state.state)) {
        return;
      }
      std::string key = spool::to_string(state.state) + "/" + std::to_string(state.pid.value_or(0));
      if (key != last) {
        last = key;
        write_event(
            spool::Event{spool::EventKind::state, spool::Stream::out, 0, {}, state.to_json()});
      }
    };
  }
  spool::Follower follower(run, follow, *sink);
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
  if (events != nullptr && spool::is_final(state.state)) {
    try {
      events->flush();
      write_event(
          spool::Event{spool::EventKind::final, spool::Stream::out, 0, {}, state.to_json()});
    } catch (const std::system_error& e) {
      if (e.code().value() == EPIPE) {
        return 128 + SIGPIPE;
      }
      throw;
    }
  }
  if (seen != nullptr) {
    seen->final_seen = spool::is_final(state.state);
  }
  report_end(run, state, *context.log);
  return state.cli_exit_code();
}

void wait_for_supervisor_to_let_go(const spool::RunDir& run,
                                   CliContext& context,
                                   const KnownRunEnd& known) {
  try {
    if (!known.final_seen && !spool::is_final(run.read_state().state)) {
      return; // detached (SIGHUP, EPIPE): the run goes on
    }
    if (known.has_on_exit ? *known.has_on_exit : has_on_exit(run.read_spec())) {
      return; // its command holds the run
    }
    if (!wait_for_lock_free(run.file(spool::k_lock_file), std::chrono::seconds(10))) {
      context.log->debug("run {}: its supervisor still holds it after 10 s", run.run_id());
    }
  } catch (const std::exception& e) {
    context.log->debug("run {}: not waiting for its supervisor: {}", run.run_id(), e.what());
  }
}

} // namespace chaperone
