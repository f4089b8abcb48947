// chaperone/supervisor/on_exit.cpp: see on_exit.hpp.
#include "chaperone/supervisor/on_exit.hpp"

#include "chaperone/supervisor/spawn.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

extern char** environ; // NOLINT(readability-redundant-declaration)

namespace chaperone {

bool config_has_on_exit(const nlohmann::json& config) noexcept {
  // find() on a non-object gives end() and never throws; the catch is for clang-tidy's
  // exception-escape check, which cannot see that through nlohmann's templates.
  try {
    if (!config.is_object()) {
      return false;
    }
    auto on_exit = config.find("on_exit");
    return on_exit != config.end() && on_exit->is_string();
  } catch (const std::exception&) {
    return false;
  }
}

bool has_on_exit(const nlohmann::json& spec) noexcept {
  try {
    auto config = spec.find("config");
    return config != spec.end() && config_has_on_exit(*config);
  } catch (const std::exception&) {
    return false;
  }
}

nlohmann::json on_exit_spec(const nlohmann::json& spec) {
  if (!has_on_exit(spec)) {
    return nlohmann::json::object();
  }
  return {{"config", {{"on_exit", spec.at("config").at("on_exit")}}}};
}

void run_on_exit(const spool::RunDir& run,
                 const nlohmann::json& spec,
                 const std::shared_ptr<spdlog::logger>& log) noexcept {
  try {
    const nlohmann::json config = spec.value("config", nlohmann::json::object());
    if (!has_on_exit(spec)) {
      return;
    }
    std::string command = config["on_exit"].get<std::string>();
    spool::RunState state = run.read_state();
    if (!spool::is_final(state.state)) {
      return;
    }
    nlohmann::json outcome = {{"command", command}, {"log", "on_exit.log"}};
    try {
      spool::Fd out = spool::open_or_throw(
          run.file("on_exit.log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
      spool::Fd in = spool::open_or_throw("/dev/null", O_RDONLY);
      SpawnRequest request;
      request.argv = {"/bin/sh", "-c", command};
      request.search_path = false;
      std::vector<std::string> env;
      for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string text = *entry;
        if (text.rfind("CHAPERONE_", 0) != 0) {
          env.push_back(std::move(text));
        }
      }
      env.push_back("CHAPERONE_RUN_ID=" + run.run_id());
      env.push_back("CHAPERONE_RUN_DIR=" + run.path().string());
      env.push_back("CHAPERONE_EXIT_CODE=" + std::to_string(state.cli_exit_code()));
      env.push_back("CHAPERONE_STATE=" + spool::to_string(state.state));
      env.push_back("CHAPERONE_SPOOL=" + run.path().parent_path().string());
      request.env = env;
      request.stdin_fd = in.get();
      request.stdout_fd = out.get();
      request.stderr_fd = out.get();
      request.new_process_group = true;
      std::string cwd = state.target.value("mode", "local") == "local"
                            ? state.program.value("cwd", std::string("/"))
                            : std::string("/");
      spool::Fd cwd_fd{::open(cwd.empty() ? "/" : cwd.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
      request.cwd_fd = cwd_fd.get();
      pid_t pid = spawn_process(request);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      outcome["exit_code"] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } catch (const std::exception& e) {
      outcome["exit_code"] = nullptr;
      outcome["error"] = e.what();
    }
    log->info("on-exit: {}", outcome.dump());
    state = run.read_state();
    state.extra["on_exit"] = outcome;
    run.write_state(state);
  } catch (const std::exception& e) {
    log->error("on-exit: {}", e.what());
  }
}

} // namespace chaperone
