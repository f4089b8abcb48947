// chaperone/client/far_client.cpp: reviving a durable remote run's follower; far requests.
#include "chaperone/client/far_client.hpp"

#include "chaperone/client/launch.hpp"
#include "chaperone/supervisor/far_command.hpp"
#include "chaperone/supervisor/mirror.hpp"
#include "chaperone/supervisor/spawn.hpp"
#include "chaperone/supervisor/supervisor.hpp"
#include "chaperone/supervisor/target_json.hpp"
#include "cmdbuild/far_chaperone.hpp"
#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

namespace chaperone {

namespace {

bool revive(const spool::RunDir& run, const spool::RunState& state, spool::FileLock& lock) {
  (void)state;
  SupervisorOptions options;
  options.run_dir = run.path();
  options.lock_fd = 3;
  options.mirror = true;
  std::filesystem::path supervisor = default_supervisor_path();
  options.ship_path = default_front_end_path(supervisor).string();
  SpawnRequest spawn;
  spawn.argv.push_back(supervisor.string());
  std::vector<std::string> args = supervisor_args(options);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.extra_fds.emplace_back(lock.fd(), 3);
  spawn.new_session = true;
  spawn.search_path = false;
  try {
    (void)spawn_process(spawn);
  } catch (const std::exception&) {
    return false; // recorded lost by the caller: nobody can follow it from here
  }
  // The new follower holds the lock through its inherited copy of our fd.
  return true;
}

} // namespace

bool is_far_run(const spool::RunState& state) {
  return state.extra.contains("far") && state.extra["far"].is_object();
}

void install_far_reviver() {
  spool::set_revive_hook(revive);
}

void queue_far_request(const spool::RunDir& run, const std::vector<std::string>& args) {
  spool::RunState state = run.read_state_resolving_lost();
  if (spool::is_final(state.state)) {
    throw std::runtime_error("run " + run.run_id() + " has already ended ("
                             + spool::to_string(state.state) + ")");
  }
  std::filesystem::path dir = run.file(k_far_requests_dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spool::throw_errno("mkdir " + dir.string());
  }
  std::string body;
  for (const std::string& arg : args) {
    body += arg;
    body.push_back('\0');
  }
  unsigned random = 0;
  if (::getrandom(&random, sizeof random, 0) != sizeof random) {
    spool::throw_errno("getrandom");
  }
  std::string name =
      spool::format_utc(std::chrono::system_clock::now()) + "-" + std::to_string(random);
  std::filesystem::path temp = dir / ("." + name);
  {
    spool::Fd fd = spool::open_or_throw(temp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    spool::write_all(fd.get(), body, temp.string());
  }
  if (::rename(temp.c_str(), (dir / name).c_str()) != 0) {
    spool::throw_errno("rename " + temp.string());
  }
  // Wake the follower; if it is between connections it also finds the file on its next one.
  state = run.read_state();
  if (state.supervisor_pid && state.boot_id == spool::boot_id()
      && spool::process_start_ticks(*state.supervisor_pid) == state.supervisor_start_ticks) {
    (void)::kill(*state.supervisor_pid, SIGUSR1);
  }
}

std::string remove_far_run(const spool::RunDir& run) {
  spool::RunState state = run.read_state_resolving_lost();
  if (!is_far_run(state)) {
    return {};
  }
  if (!spool::is_final(state.state)) {
    throw std::runtime_error("run " + run.run_id() + " is not final: its far run stays");
  }
  cmdbuild::Target target = target_from_json(run.read_spec().at("target"));
  std::string far_id = state.extra["far"].value("run_id", std::string());
  CommandOutcome outcome =
      run_command(cmdbuild::far_remove_command(target, far_id), {}, std::chrono::seconds(60));
  std::string said = outcome.out.substr(0, outcome.out.find('\n'));
  if (outcome.exit_code != 0) {
    throw std::runtime_error("far run " + far_id + " on " + target.host + ": "
                             + (outcome.exit_code == 255 ? outcome.last_err_line() : said));
  }
  return said;
}

} // namespace chaperone
