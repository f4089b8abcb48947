// chaperone/supervisor/far_group_end.cpp: TERM, grace, KILL to a far group over ssh.
#include "chaperone/supervisor/far_group_end.hpp"

#include "chaperone/supervisor/far_command.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace chaperone {

namespace {

using Clock = std::chrono::steady_clock;

// The far helper's exit codes (cmdbuild build_remote_kill): 0 sent, 1 kill(2) failed,
// 2 the group is no longer the run's; 255 is ssh's own failure.
CommandOutcome
send(const cmdbuild::Target& target, pid_t pgid, int signum, const std::string& nonce) {
  auto timeout = std::chrono::seconds(target.connect_timeout + 10);
  return run_command(cmdbuild::build_remote_kill(target, pgid, signum, nonce), {}, timeout);
}

} // namespace

nlohmann::json FarGroupEnd::to_json() const {
  return {{"ended", ended}, {"attempts", attempts}, {"result", result}};
}

FarGroupEnd end_far_group(const cmdbuild::Target& target,
                          pid_t pgid,
                          const std::string& nonce,
                          std::chrono::milliseconds kill_after,
                          const std::shared_ptr<spdlog::logger>& log) {
  FarGroupEnd end;
  Clock::time_point dropped = Clock::now();
  std::chrono::milliseconds backoff{1000};
  CommandOutcome term;
  for (;;) {
    ++end.attempts;
    term = send(target, pgid, SIGTERM, nonce);
    log->info("far group {}: SIGTERM attempt {} exit {}", pgid, end.attempts, term.exit_code);
    if (term.exit_code != 255 && !term.timed_out) {
      break;
    }
    if (end.attempts >= k_far_group_end_attempts || Clock::now() + backoff > dropped + kill_after) {
      end.result = "far host unreachable after " + std::to_string(end.attempts)
                   + " attempts: " + term.last_err_line();
      return end;
    }
    // A pause between connection attempts, not a wait for an event.
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
  if (term.exit_code == 2) {
    end.ended = true;
    end.result = "far group already gone";
    return end;
  }
  if (term.exit_code != 0) {
    end.result =
        "far kill failed (exit " + std::to_string(term.exit_code) + "): " + term.last_err_line();
    return end;
  }
  // The grace the run was given for TERM (checked every half second), then KILL for
  // whatever ignored it.
  Clock::time_point grace_end = Clock::now() + kill_after;
  while (Clock::now() < grace_end) {
    auto probe = run_command(cmdbuild::build_remote_probe(target, pgid, nonce),
                             {},
                             std::chrono::seconds(target.connect_timeout + 10));
    if (probe.exit_code == 2) {
      end.ended = true;
      end.result = "ended by SIGTERM";
      return end;
    }
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(500),
        std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - Clock::now())));
  }
  CommandOutcome kill = send(target, pgid, SIGKILL, nonce);
  log->info("far group {}: SIGKILL exit {}", pgid, kill.exit_code);
  if (kill.exit_code == 0 || kill.exit_code == 2) {
    end.ended = true;
    end.result = kill.exit_code == 0 ? "SIGTERM, then SIGKILL after the grace" : "ended by SIGTERM";
  } else {
    end.result = "SIGTERM sent; SIGKILL failed (exit " + std::to_string(kill.exit_code)
                 + "): " + kill.last_err_line();
  }
  return end;
}

} // namespace chaperone
