// chaperone/client/callback_files.cpp: callback progress files and sender restarts.
#include "chaperone/client/callback_files.hpp"

#include "chaperone/supervisor/spawn.hpp"
#include "spool/atomic_file.hpp"
#include "spool/error.hpp"
#include "spool/file_lock.hpp"
#include "spool/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio> // renameat2, RENAME_EXCHANGE (glibc, _GNU_SOURCE)
#include <stdexcept>
#include <system_error>

namespace chaperone {

nlohmann::json CallbackProgress::to_json() const {
  return {
      {"stdout", stdout_bytes},
      {"stderr", stderr_bytes},
      {"completed", completed},
      {"failed_attempts", failed_attempts},
      {"last_error", last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error)}};
}

CallbackProgress read_callback_progress(const spool::RunDir& run) {
  std::filesystem::path path = run.file(k_callback_progress_file);
  std::string text;
  try {
    text = spool::read_file(path);
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::no_such_file_or_directory) {
      return {};
    }
    throw;
  }
  try {
    nlohmann::json json = nlohmann::json::parse(text);
    CallbackProgress progress;
    progress.stdout_bytes = json.at("stdout").get<std::uint64_t>();
    progress.stderr_bytes = json.at("stderr").get<std::uint64_t>();
    progress.completed = json.at("completed").get<bool>();
    progress.failed_attempts = json.value("failed_attempts", std::uint64_t{0});
    if (json.contains("last_error") && json.at("last_error").is_string()) {
      progress.last_error = json.at("last_error").get<std::string>();
    }
    return progress;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
}

bool callback_run_removed(const spool::RunDir& run) {
  return ::access(run.file(k_callback_config_file).c_str(), F_OK) != 0;
}

namespace {

std::string progress_text(const CallbackProgress& progress) {
  return progress.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace

std::string initial_callback_progress() {
  return progress_text(CallbackProgress{});
}

void write_callback_progress(const spool::RunDir& run, const CallbackProgress& progress) {
  std::filesystem::path path = run.file(k_callback_progress_file);
  std::filesystem::path twin = run.file(k_callback_progress_twin);
  // The run dir still being there is told by callback.json: a run being removed makes no
  // name here. Only a run from a version that made neither twin nor progress with the run
  // makes them, and only while callback.json is there.
  spool::Fd file{::open(twin.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (!file.valid()) {
    if (errno != ENOENT) {
      spool::throw_errno("open " + twin.string());
    }
    if (callback_run_removed(run)) {
      return;
    }
    file = spool::open_or_throw(twin, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW);
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    spool::throw_errno("fstat " + twin.string());
  }
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
    throw std::runtime_error(twin.string() + ": not a regular file with one name");
  }
  spool::write_all(file.get(), progress_text(progress), twin.string());
  spool::fsync_together({{file.get(), "fsync " + twin.string()}});
  file.reset();
  if (::renameat2(AT_FDCWD, twin.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != ENOENT) {
      spool::throw_errno("renameat2 (RENAME_EXCHANGE) " + twin.string() + " and " + path.string());
    }
    if (callback_run_removed(run)) {
      return;
    }
    if (::rename(twin.c_str(), path.c_str()) != 0) { // no progress yet (a run from before)
      spool::throw_errno("rename " + twin.string() + " to " + path.string());
    }
  }
  spool::Fd dir = spool::open_or_throw(run.path(), O_RDONLY | O_DIRECTORY);
  spool::fsync_together({{dir.get(), "fsync " + run.path().string()}});
}

void mark_callback_pending(const spool::SpoolRoot& root, const std::string& run_id) {
  std::filesystem::path dir = root.path() / k_callback_pending_dir;
  for (int attempt = 0;; ++attempt) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      spool::throw_errno("mkdir " + dir.string());
    }
    spool::Fd mark{::open((dir / run_id).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)};
    if (mark.valid()) {
      return;
    }
    // A failed agent removed the (then empty) dir between our mkdir and open: once more.
    if (errno != ENOENT || attempt >= 3) {
      spool::throw_errno("open " + (dir / run_id).string());
    }
  }
}

void clear_callback_pending(const std::filesystem::path& root,
                            const std::string& run_id,
                            bool remove_empty_dir) {
  std::filesystem::path mark = root / k_callback_pending_dir / run_id;
  if (::unlink(mark.c_str()) != 0 && errno != ENOENT) {
    spool::throw_errno("unlink " + mark.string());
  }
  if (remove_empty_dir) {
    (void)::rmdir((root / k_callback_pending_dir).c_str()); // fails if another run is marked
  }
}

std::filesystem::path default_callback_sender_path() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    throw std::system_error(error, "readlink /proc/self/exe");
  }
  return self.parent_path() / "chaperone-callback";
}

std::string ensure_callback_sender(const spool::RunDir& run,
                                   const std::filesystem::path& root,
                                   const std::filesystem::path& sender,
                                   bool* started) {
  if (started != nullptr) {
    *started = false;
  }
  try {
    std::filesystem::path mark = root / k_callback_pending_dir / run.run_id();
    if (::access(mark.c_str(), F_OK) != 0) {
      return {};
    }
    if (callback_run_removed(run)) {
      // The run was removed (or never had callbacks): nothing left to deliver.
      clear_callback_pending(root, run.run_id());
      return {};
    }
    if (spool::FileLock::is_held_by_someone(run.file(k_callback_lock_file))) {
      return {};
    }
    // Two readers may both get here; the second sender finds the lock taken and exits.
    SpawnRequest spawn;
    spawn.argv = {sender.string(), run.path().string()};
    spawn.new_session = true;
    spawn.search_path = false;
    (void)spawn_process(spawn);
    if (started != nullptr) {
      *started = true;
    }
    return {};
  } catch (const std::exception& e) {
    return std::string("cannot start the callback sender for run ") + run.run_id() + ": "
           + e.what();
  }
}

void ensure_callback_senders(const std::filesystem::path& root,
                             const std::filesystem::path& sender) {
  std::error_code error;
  std::filesystem::directory_iterator entries(root / k_callback_pending_dir, error);
  if (error) {
    return;
  }
  for (const auto& entry : entries) {
    std::string id = entry.path().filename().string();
    (void)ensure_callback_sender(spool::RunDir(root / id, id), root, sender);
  }
}

} // namespace chaperone
