// chaperone/client/callback_files.hpp: a run's callback settings and delivery progress in
// its run dir, and (re)starting the one sender process per run that delivers them.
#pragma once

#include "spool/run_dir.hpp"
#include "spool/spool_root.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace chaperone {

// In the run dir (all 0600). The token lives only in its own file: never in spec.json,
// state.json, callback.json or a log.
constexpr const char* k_callback_config_file = "callback.json";
constexpr const char* k_callback_token_file = "callback.token";
constexpr const char* k_callback_progress_file = "callback.progress";
// callback.progress's twin: each write goes into it and the two names are swapped.
constexpr const char* k_callback_progress_twin = ".callback.progress.next";
constexpr const char* k_callback_lock_file = "callback.lock";
constexpr const char* k_callback_log_file = "callback.log";
// In the spool root: one empty file per run whose callbacks are not all delivered, so that
// `ls` finds the senders to restart with one readdir instead of a look into every run.
constexpr const char* k_callback_pending_dir = ".callbacks";

// What has been acknowledged by the callback server, replaced atomically after each
// accepted request: bytes of each stream, and whether `completed` was accepted.
struct CallbackProgress {
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
  bool completed = false;
  std::uint64_t failed_attempts = 0; // since the last accepted request
  std::string last_error;            // of the last failed attempt, "" if none

  nlohmann::json to_json() const;
};

// True once the run's callback.json is gone: the run (or its callbacks) is being removed, and
// nothing more is to be delivered or written into its dir.
bool callback_run_removed(const spool::RunDir& run);

// Missing file: nothing delivered yet. Throws std::runtime_error naming a damaged file.
CallbackProgress read_callback_progress(const spool::RunDir& run);
// Durable and atomic. After the first write no name is ever made in the run dir: the text
// goes into the twin, which then swaps names with callback.progress (RENAME_EXCHANGE). A
// sender that retries every few ms would otherwise make a temp file now and then in a run dir
// that `rm -rf` is emptying, which then fails with "Directory not empty". Once either file is
// gone (the run is being removed) nothing is written and nothing is made.
void write_callback_progress(const spool::RunDir& run, const CallbackProgress& progress);
// callback.progress's text before anything is delivered, written with the run.
std::string initial_callback_progress();

// Creates / removes <root>/.callbacks/<run id>; remove_empty_dir also removes .callbacks
// if no other run is marked (a launch that failed leaves nothing behind).
void mark_callback_pending(const spool::SpoolRoot& root, const std::string& run_id);
void clear_callback_pending(const std::filesystem::path& root,
                            const std::string& run_id,
                            bool remove_empty_dir = false);

// The chaperone-callback binary beside the running executable.
std::filesystem::path default_callback_sender_path();

// If `run` has callbacks still to deliver and no sender holds its callback.lock, starts
// `sender` for it (own session, stdio on /dev/null). Returns true if one was started. A
// pending mark whose run is gone is removed. Errors are returned as text (a reader must not
// fail because a sender could not be started), empty on success.
std::string ensure_callback_sender(const spool::RunDir& run,
                                   const std::filesystem::path& root,
                                   const std::filesystem::path& sender,
                                   bool* started = nullptr);

// ensure_callback_sender for every run marked pending in `root`.
void ensure_callback_senders(const std::filesystem::path& root,
                             const std::filesystem::path& sender);

} // namespace chaperone
