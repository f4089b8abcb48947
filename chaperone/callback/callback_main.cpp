// chaperone/callback/callback_main.cpp: `chaperone-callback RUN_DIR`, the per-run callback
// sender. Started (own session, stdio on /dev/null) by `chaperone agent` for runs with a
// callback, and again by any chaperone command that looks at such a run while no sender
// holds its callback.lock. A separate, dynamically linked process, so that libcurl, TLS
// and name resolution (NSS) stay out of the static supervisor (README "For schedulers").
#include "chaperone/callback/sender.hpp"
#include "chaperone/supervisor/logging.hpp"
#include "spool/file_lock.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <curl/curl.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <system_error>

int main(int argc, char** argv) try {
  using namespace chaperone;
  if (argc != 2) {
    (void)std::fprintf(stderr, "usage: chaperone-callback RUN_DIR\n");
    return 125;
  }
  ::umask(077);
  (void)::signal(SIGPIPE, SIG_IGN);
  std::filesystem::path dir = std::filesystem::absolute(argv[1]).lexically_normal();
  spool::RunDir run(dir, dir.filename().string());
  // Exactly one sender per run: a second one (two readers restarting at once) just leaves.
  // Nothing is made in the run dir before the lock is ours: `chaperone agent` made the lock
  // file with the run, and a run dir without one is being removed (`rm -rf` fails with
  // "Directory not empty" if a name appears while it empties the dir).
  spool::FileLock lock;
  try {
    lock = spool::FileLock::try_exclusive_existing(run.file(k_callback_lock_file));
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::no_such_file_or_directory) {
      throw;
    }
    if (callback_run_removed(run)) {
      return 0; // removed: nothing left to deliver
    }
    lock = spool::FileLock::try_exclusive(run.file(k_callback_lock_file)); // a run from before
  }
  if (!lock.held()) {
    return 0; // another sender has it
  }
  std::shared_ptr<spdlog::logger> log = make_supervisor_logger(run.file(k_callback_log_file));
  try {
    CallbackConfig config = CallbackConfig::from_json(
        nlohmann::json::parse(spool::read_file(run.file(k_callback_config_file))));
    std::optional<std::string> token;
    if (::access(run.file(k_callback_token_file).c_str(), F_OK) == 0) {
      token = spool::read_file(run.file(k_callback_token_file));
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    CallbackSender sender(run, dir.parent_path(), config, std::move(token), log);
    int code = sender.run();
    curl_global_cleanup();
    return code;
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 125;
  }
} catch (const std::exception& e) {
  (void)std::fprintf(stderr, "chaperone-callback: %s\n", e.what());
  return 125;
}
