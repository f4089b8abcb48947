// chaperone/signal_run.cpp: checked process-group signalling, local or on the far side.
#include "chaperone/client/signal_run.hpp"

#include "chaperone/client/far_client.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "cmdbuild/command.hpp"
#include "spool/error.hpp"
#include "spool/follower.hpp"
#include "spool/host.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace chaperone {

namespace {

// ssh to the far side and signal the program's group there; the helper checks the group
// still belongs to this run's wrapper (by the nonce) before it signals.
pid_t signal_remote(const spool::RunDir& run, const spool::RunState& state, int signum) {
  const std::string& id = run.run_id();
  auto remote = state.extra.find("remote");
  if (remote == state.extra.end() || !remote->contains("pgid") || (*remote)["pgid"].is_null()) {
    throw std::runtime_error("run " + id + ": the far side has not reported its process group yet");
  }
  pid_t pgid = (*remote)["pgid"].get<pid_t>();
  std::string nonce = state.extra.value("status_nonce", "");
  cmdbuild::Target target = target_from_json(run.read_spec().at("target"));
  SpawnRequest request;
  request.argv = cmdbuild::build_remote_kill(target, pgid, signum, nonce);
  request.stderr_fd = 2;
  pid_t pid = spawn_process(request);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      spool::throw_errno("waitpid remote kill helper " + std::to_string(pid));
    }
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 2) {
    throw std::runtime_error("run " + id + ": far process group " + std::to_string(pgid)
                             + " is already gone");
  }
  if (code != 0) {
    throw std::runtime_error("run " + id + ": remote kill on " + target.host + " failed (exit "
                             + std::to_string(code) + ")");
  }
  return pgid;
}

// A run is `starting` for the few milliseconds between `run -d` returning and the
// supervisor recording the program's pid; a signal sent then must not be lost.
spool::RunState wait_until_started(const spool::RunDir& run) {
  spool::FollowOptions follow;
  follow.want_stdout = follow.want_stderr = false;
  follow.timeout = std::chrono::seconds(10);
  follow.until = [](const spool::RunState& state) {
    return state.state != spool::RunStatus::starting;
  };
  spool::CallbackSink sink([](spool::Stream, std::string_view) {});
  spool::Follower follower(run, follow, sink);
  return follower.run();
}

} // namespace

pid_t signal_run(const spool::RunDir& run, int signum) {
  spool::RunState state = run.read_state_resolving_lost();
  if (state.state == spool::RunStatus::starting) {
    state = wait_until_started(run);
  }
  const std::string& id = run.run_id();
  auto mode = cmdbuild::parse_target_mode(state.target.value("mode", "local"));
  bool remote = mode && cmdbuild::is_ssh_mode(*mode);
  if (remote && state.state == spool::RunStatus::failed
      && state.error.value_or("").rfind("connection lost", 0) == 0
      && state.extra.value("far_group_ended", false) != true) {
    // The link dropped and the supervisor could not end the far group: the program may
    // still run there, and its group is recorded. The far helper signals it only while the
    // run's own wrapper (nonce) still leads it, so a reused pgid is never hit.
    return signal_remote(run, state, signum);
  }
  if (spool::is_final(state.state)) {
    throw std::runtime_error("run " + id + " has already ended (" + spool::to_string(state.state)
                             + ")");
  }
  if (is_far_run(state)) {
    // The far chaperone signals its own group; the local follower carries the request there
    // (now, or when the link is back).
    queue_far_request(run, {"-s", std::to_string(signum)});
    return 0;
  }
  if (state.state == spool::RunStatus::waiting && state.supervisor_pid
      && *state.supervisor_pid > 1) {
    // Nothing runs yet: the supervisor itself gives up waiting and records `skipped`
    // (gate.hpp), provided the pid is still that supervisor.
    auto ticks = spool::process_start_ticks(*state.supervisor_pid);
    if (!ticks || ticks != state.supervisor_start_ticks) {
      throw std::runtime_error("run " + id + ": its supervisor is gone");
    }
    if (::kill(*state.supervisor_pid, signum) != 0) {
      throw std::runtime_error("kill " + signal_name(signum) + " to supervisor "
                               + std::to_string(*state.supervisor_pid) + ": "
                               + std::strerror(errno));
    }
    return *state.supervisor_pid;
  }
  if (!state.pgid || !state.pid) {
    throw std::runtime_error("run " + id + " has not started its program yet");
  }
  if (remote) {
    return signal_remote(run, state, signum);
  }
  if (!state.boot_id.empty() && state.boot_id != spool::boot_id()) {
    throw std::runtime_error("run " + id + " was started before the last reboot");
  }
  // The leader may have exited while the supervisor ends its leftovers; then the group id is
  // still held by the remaining members (the kernel does not reuse a pid that names a live
  // group), and the supervisor's lock proves the run is not over.
  auto ticks = spool::process_start_ticks(*state.pid);
  if (ticks && state.pid_start_ticks && ticks != state.pid_start_ticks) {
    throw std::runtime_error("run " + id + ": pid " + std::to_string(*state.pid)
                             + " now belongs to another process; not signalling");
  }
  if (*state.pgid <= 1 || *state.pgid != *state.pid) {
    // We always record pgid == pid > 1; kill(-0) or kill(-1) would hit us or everyone.
    throw std::runtime_error("run " + id + ": recorded process group " + std::to_string(*state.pgid)
                             + " is not the program's own; not signalling");
  }
  if (::kill(-*state.pgid, signum) != 0) {
    if (errno == ESRCH) {
      throw std::runtime_error("run " + id + ": its process group " + std::to_string(*state.pgid)
                               + " is already gone");
    }
    throw std::runtime_error("kill " + signal_name(signum) + " to group "
                             + std::to_string(*state.pgid) + ": " + std::strerror(errno));
  }
  return *state.pgid;
}

} // namespace chaperone
