// chaperone/cli/garbage.cpp: see garbage.hpp.
#include "chaperone/cli/garbage.hpp"

#include "chaperone/cli/duration.hpp"
#include "chaperone/client/callback_files.hpp"
#include "chaperone/client/far_client.hpp"
#include "spool/error.hpp"
#include "spool/file_lock.hpp"
#include "spool/host.hpp"
#include "spool/reader_mark.hpp"
#include "spool/release_later.hpp"
#include "spool/run_dir.hpp"
#include "spool/run_index.hpp"
#include "spool/run_list.hpp"
#include "spool/run_names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstdio>

namespace chaperone {

namespace {

constexpr const char* k_gc_stamp = ".gc-stamp";

// A staged dir younger than this may still be being filled (no lock file yet).
constexpr std::chrono::seconds k_temp_grace{60};

std::uint64_t tree_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::error_code size_error;
    if (entry.is_regular_file(size_error)) {
      std::uintmax_t size = entry.file_size(size_error);
      total += size_error ? 0 : size;
    }
  }
  return total;
}

std::string hidden_name(const std::string& run_id) {
  unsigned bits = 0;
  (void)::getrandom(&bits, sizeof bits, 0);
  char suffix[16];
  (void)std::snprintf(suffix, sizeof suffix, "%08x", bits);
  return ".gc." + run_id + "." + suffix;
}

bool older_than(const std::filesystem::path& path, std::chrono::seconds age) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return false;
  }
  return std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime)
         > age;
}

// ".<run id>.XXXXXX" as made by mkdtemp in spool::stage_run.
bool is_staged_name(const std::string& name) {
  if (name.size() < 9 || name[0] != '.' || name[name.size() - 7] != '.') {
    return false;
  }
  for (size_t i = name.size() - 6; i < name.size(); ++i) {
    if (std::isalnum(static_cast<unsigned char>(name[i])) == 0) {
      return false;
    }
  }
  return true;
}

// Hidden leftovers: ".NAME.XXXXXX" staged dirs of callers killed inside `run` (nobody holds
// their lock), and ".gc.*" dirs of a gc killed while deleting.
size_t sweep_temp_dirs(const spool::SpoolRoot& root,
                       bool dry_run,
                       const std::function<void(const std::string&)>& say) {
  size_t swept = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root.path(), error)) {
    std::string name = entry.path().filename().string();
    std::error_code type_error;
    if (name.size() < 2 || name[0] != '.' || !entry.is_directory(type_error)
        || entry.is_symlink(type_error)) {
      continue;
    }
    if (name == k_callback_pending_dir) {
      continue; // not a leftover: the marks of runs whose callbacks are still owed
    }
    bool gc_leftover = name.rfind(".gc.", 0) == 0;
    if (!gc_leftover && !is_staged_name(name)) {
      continue; // .locks and anything else hidden that is not ours to sweep
    }
    if (!gc_leftover) {
      // A creator takes the lock only after it made the file: a young dir may be half-made,
      // and our own open of its lock would race with the creator's.
      if (!older_than(entry.path(), k_temp_grace)) {
        continue;
      }
      spool::FileLock lock = spool::FileLock::try_exclusive(entry.path() / spool::k_lock_file);
      if (!lock.held()) {
        continue; // its creator or supervisor lives
      }
    }
    say((dry_run ? "would sweep " : "swept ") + name);
    ++swept;
    if (!dry_run) {
      std::error_code ignored;
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }
  return swept;
}

} // namespace

GcReport collect_garbage(const spool::SpoolRoot& root,
                         const GcOptions& options,
                         const std::function<void(const std::string&)>& say) {
  GcReport report;
  RunFilter filter = options.filter;
  if (filter.states.empty()) {
    filter.states.emplace_back("final");
  }
  auto now = std::chrono::system_clock::now();
  std::vector<nlohmann::json> candidates;
  for (nlohmann::json& row : collect_rows(root)) { // newest first
    auto status = spool::parse_run_status(row.value("state", ""));
    if (!status || !spool::is_final(*status) || !filter.matches(row)) {
      continue; // never a live (or damaged) run
    }
    candidates.push_back(std::move(row));
  }
  size_t kept = 0;
  for (const nlohmann::json& row : candidates) {
    if (options.keep && kept < *options.keep) {
      ++kept;
      continue;
    }
    // By its end; a run recorded `lost` has none: its start (or now) stands in.
    const nlohmann::json& end = row.contains("end_time") ? row["end_time"] : nlohmann::json();
    std::optional<spool::SystemTime> ended =
        end.is_string() ? spool::parse_utc(end.get<std::string>()) : std::nullopt;
    spool::SystemTime when = ended ? *ended : row_time(row);
    if (options.older_than && now - when < *options.older_than) {
      continue;
    }
    std::string id = row.value("run_id", std::string());
    spool::RunDir run(root.path() / id, id);
    if (options.dry_run) {
      say(std::string(options.prune_output ? "would prune " : "would remove ") + id);
      ++(options.prune_output ? report.pruned : report.removed);
      continue;
    }
    // A final run's supervisor may hold its lock for the moment it takes to exit, a reader
    // may be recording it `lost`: busy now, removed by a later gc.
    spool::FileLock lock = spool::FileLock::try_exclusive(run.file(spool::k_lock_file));
    spool::FileLock mark = lock.held() ? spool::try_mark_for_removal(run) : spool::FileLock();
    if (!lock.held() || !mark.held()) {
      say("busy " + id + " (alive or followed): kept");
      ++report.skipped_busy;
      continue;
    }
    spool::RunState state = run.read_state();
    if (!spool::is_final(state.state)) {
      ++report.skipped_busy;
      continue;
    }
    if (options.prune_output) {
      nlohmann::json pruned = {{"stdout", state.stdout_bytes}, {"stderr", state.stderr_bytes}};
      for (spool::Stream stream : {spool::Stream::out, spool::Stream::err}) {
        spool::Fd truncated{
            ::open(run.stream_path(stream).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW)};
      }
      // The lengths recorded must stay those of the files, or a reader would wait for bytes
      // that no longer exist; what there was is kept beside them.
      report.bytes += state.stdout_bytes + state.stderr_bytes;
      state.stdout_bytes = state.stderr_bytes = 0;
      state.extra["output_pruned"] = pruned;
      run.write_state(state);
      // Earlier states the supervisor kept rather than free (ReleaseLater): history nobody
      // reads, and pruning is for giving space back.
      for (const char* earlier :
           {spool::ReleaseLater::k_first_replaced, spool::ReleaseLater::k_last_replaced}) {
        (void)::unlink(run.file(earlier).c_str());
      }
      say("pruned " + id);
      ++report.pruned;
      continue;
    }
    if (is_far_run(state)) {
      // A durable remote run: its far twin goes first, now that the outcome is home. If the
      // far host cannot be reached the local run is kept: it is the only record of where
      // the far one is.
      try {
        say("far " + id + ": " + remove_far_run(run));
      } catch (const std::exception& e) {
        say("kept " + id + ": " + e.what());
        ++report.skipped_busy;
        continue;
      }
    }
    std::filesystem::path hidden = root.path() / hidden_name(id);
    std::uint64_t bytes = tree_bytes(run.path());
    if (::renameat2(AT_FDCWD, run.path().c_str(), AT_FDCWD, hidden.c_str(), RENAME_NOREPLACE)
        != 0) {
      spool::throw_errno("rename " + run.path().string() + " to " + hidden.string());
    }
    std::error_code ignored;
    std::filesystem::remove_all(hidden, ignored);
    report.bytes += bytes;
    say("removed " + id);
    ++report.removed;
  }
  report.temp_dirs = sweep_temp_dirs(root, options.dry_run, say);
  if (report.removed > 0 && !options.dry_run) {
    // Drop the removed runs from the caches, so that they do not grow forever (and pick up
    // runs put in place by hand).
    std::vector<std::string> ids = spool::list_run_ids(root);
    spool::compact_index(root, ids);
    if (::access((root.path() / spool::k_names_file).c_str(), F_OK) == 0) {
      spool::rewrite_names(root);
    }
  }
  return report;
}

namespace {

// Appends one line to <root>/.retention.log: the background gc has no terminal to report to.
// Created only when there is something to say.
void log_retention_error(const spool::SpoolRoot& root, const std::string& what) noexcept {
  std::string line =
      spool::format_utc(std::chrono::system_clock::now()) + " retention: " + what + "\n";
  spool::Fd log{::open((root.path() / k_retention_log).c_str(),
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                       0600)};
  if (log.valid()) {
    (void)!::write(log.get(), line.data(), line.size());
  }
}

// The grandchild: detached from the caller's fds (a `$(chaperone run -d)` must see EOF at
// once, and an inherited run lock would make a run look alive), collects, and exits.
[[noreturn]] void run_background_gc(const spool::SpoolRoot& root,
                                    std::chrono::milliseconds age) noexcept {
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && null_fd >= 0; ++fd) {
    (void)::dup2(null_fd, fd);
  }
  (void)::close_range(3, ~0U, 0);
  try {
    // Never two at once: an earlier retention gc still running (a huge spool) is waited for.
    spool::FileLock turn = spool::FileLock::exclusive(root.path() / k_gc_stamp);
    GcOptions options;
    options.older_than = age;
    (void)collect_garbage(root, options, [](const std::string&) {});
  } catch (const std::exception& e) {
    log_retention_error(root, e.what());
  } catch (...) {
    log_retention_error(root, "unknown error");
  }
  ::_exit(0);
}

} // namespace

void apply_retention(const spool::SpoolRoot& root,
                     const char* retention,
                     const std::function<void(const std::string&)>& warn) noexcept {
  if (retention == nullptr || *retention == '\0') {
    return;
  }
  try {
    auto age = parse_duration(retention);
    if (!age) {
      warn(std::string("CHAPERONE_RETENTION \"") + retention
           + "\": expected a duration such as 14d; ignored");
      return;
    }
    std::filesystem::path stamp = root.path() / k_gc_stamp;
    if (!older_than(stamp, std::chrono::hours(1)) && ::access(stamp.c_str(), F_OK) == 0) {
      return;
    }
    // Claim this hour first, so concurrent runs do not all collect at once.
    spool::Fd touched{::open(stamp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (!touched.valid() || ::futimens(touched.get(), nullptr) != 0) {
      return;
    }
    // The gc itself is an ls-sized scan (seconds at 100,000 runs): off the launch path, in a
    // grandchild that init adopts, so the caller neither waits for it nor leaves a zombie.
    pid_t child = ::fork();
    if (child < 0) {
      spool::throw_errno("fork");
    }
    if (child == 0) {
      ::setsid();
      pid_t grandchild = ::fork();
      if (grandchild == 0) {
        run_background_gc(root, *age);
      }
      ::_exit(grandchild < 0 ? 1 : 0);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      warn("retention: could not start the background gc (fork failed)");
    }
  } catch (const std::exception& e) {
    warn(std::string("retention: ") + e.what());
  }
}

} // namespace chaperone
