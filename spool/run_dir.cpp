// spool/run_dir.cpp: run creation, state I/O and lost-supervisor detection.
#include "spool/run_dir.hpp"

#include "spool/atomic_file.hpp"
#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/json_text.hpp"
#include "spool/run_index.hpp"
#include "spool/run_names.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <system_error>

namespace chaperone::spool {

namespace {

std::string read_run_file(const RunDir& run, const char* name) {
  try {
    return read_file(run.file(name));
  } catch (const std::system_error& e) {
    throw std::runtime_error("run " + run.run_id() + ": " + e.what());
  }
}

std::runtime_error not_json(const RunDir& run, const char* name, std::size_t size) {
  return std::runtime_error("run " + run.run_id() + ": " + name + " is damaged (not valid JSON, "
                            + std::to_string(size) + " bytes)");
}

nlohmann::json read_json_file(const RunDir& run, const char* name) {
  std::string text = read_run_file(run, name);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw not_json(run, name, text.size());
  }
}

} // namespace

RunState RunDir::read_state() const {
  // Read without a tree of the whole file (RunState::from_text).
  std::string text = read_run_file(*this, k_state_file);
  try {
    return RunState::from_text(text);
  } catch (const RunState::NotJson&) {
    throw not_json(*this, k_state_file, text.size());
  } catch (const std::exception& e) {
    throw std::runtime_error("run " + m_run_id + ": " + k_state_file + " is damaged: " + e.what());
  }
}

nlohmann::json RunDir::read_spec() const {
  nlohmann::json spec = read_json_file(*this, k_spec_file);
  if (!spec.is_object()) {
    throw std::runtime_error("run " + m_run_id + ": " + k_spec_file
                             + " is damaged (not a JSON object)");
  }
  return spec;
}

namespace {

// No block or no inode left for us (root may use the blocks reserved for it, as its writes
// do). File systems without an inode count (f_files 0) never count as out of inodes.
bool file_system_is_full(const std::filesystem::path& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return false; // not knowing is no reason to say so
  }
  bool root = ::geteuid() == 0;
  bool no_blocks = (root ? fs.f_bfree : fs.f_bavail) == 0;
  bool no_inodes = fs.f_files > 0 && (root ? fs.f_ffree : fs.f_favail) == 0;
  return no_blocks || no_inodes;
}

} // namespace

namespace {

// state.json's text. Invalid UTF-8 (from argv or paths) is replaced rather than making the
// write fail: a state must always be recordable. spec.json says when argv was not exact.
std::string render_state(const RunState& state) {
  return state.to_text();
}

} // namespace

void RunDir::write_state(const RunState& state, ReleaseLater* later) const {
  // Only the final state must survive a crash: it is the one that cannot be recomputed.
  bool final = is_final(state.state);
  // With `later`, the state replaced is kept under another name (no inode freed), or else
  // stays open until release() (no block freed before the let-go).
  const char* kept_name = later != nullptr ? later->kept_name(final) : "";
  bool reserve_taken = false; // the reserve became state.json: nothing left to unlink
  auto note_kept = [&](const AtomicFile& file) {
    if (file.kept_replaced()) {
      later->empty_later(this->file(kept_name));
    }
  };
  auto publish = [&](const std::string& text) {
    std::optional<AtomicFile> into;
    bool in_reserve = false;
    if (final && text.size() <= k_reserve_bytes) {
      // The final state is written into the reserve itself, which becomes state.json: the
      // blocks it holds are there for exactly this write, and no inode is made (on a file
      // system that just deleted many, making one can take long).
      try {
        into.emplace(this->file(k_state_file), this->file(k_reserve_file), Durability::durable);
        in_reserve = true;
      } catch (const std::system_error&) {
        // Gone (given back at ENOSPC, or a run from before) or not a file: a temp file then.
      }
    }
    if (!into) {
      into.emplace(this->file(k_state_file), final ? Durability::durable : Durability::atomic_only);
    }
    AtomicFile& file = *into;
    if (later != nullptr && in_reserve) {
      file.keep_tail();
    }
    file.write(text);
    if (*kept_name != '\0') {
      file.keep_replaced_as(this->file(kept_name));
    }
    // A state not kept stays open until release(): no block is freed before the let-go.
    auto keep_replaced = [&] {
      if (later != nullptr && *kept_name == '\0') {
        later->keep_open(Fd{::open(this->file(k_state_file).c_str(),
                                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)});
      }
    };
    if (final) {
      // Indexed before it becomes visible, with the exact size and mtime it will have.
      timespec now{};
      ::clock_gettime(CLOCK_REALTIME, &now);
      file.set_mtime(now);
      append_to_index(*this,
                      state,
                      text.size(),
                      static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
      // spec.json is written without fsync at launch (make_launch_durable). A durable final
      // state beside a lost spec would read as damaged after a crash, so it is made durable
      // before the rename too, at the same time as the state's temp file: on ext4 the two
      // fsyncs then wait for one journal commit, where one after the other paid a commit
      // and a device cache flush on the way to the exit status.
      Fd spec = m_launch_durable ? Fd() : open_spec_for_sync();
      std::vector<SyncTarget> along;
      if (spec.valid()) {
        along.push_back({spec.get(), "fsync " + this->file(k_spec_file).string()});
      }
      file.sync(along);
      Fd published = later != nullptr && in_reserve ? file.duplicate_fd() : Fd();
      keep_replaced();
      // The run dir (the rename) and the root (the run's own entry, never fsynced on the
      // launch path) become durable together, again one commit instead of two; the root
      // only if make_launch_durable() has not done it.
      if (m_launch_durable) {
        file.commit();
      } else {
        file.commit({m_path.parent_path()});
      }
      reserve_taken = in_reserve;
      note_kept(file);
      if (published.valid()) {
        later->trim_later(std::move(published), text.size(), now);
      }
      return;
    }
    keep_replaced();
    file.commit();
    note_kept(file);
  };
  try {
    if (final && file_system_is_full(m_path)) {
      // The program may have lost output to it (its writes go straight to the spool files);
      // the reserve still takes the final state, which says so.
      RunState noted = state;
      noted.extra["spool_disk_full"] = true;
      publish(render_state(noted));
    } else {
      publish(render_state(state));
    }
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOSPC || ::unlink(file(k_reserve_file).c_str()) != 0) {
      throw;
    }
    RunState noted = state;
    noted.extra["spool_disk_full"] = true;
    publish(render_state(noted));
  }
  if (final && !reserve_taken) {
    // Nothing more will be written: the space held for this moment goes back.
    ::unlink(file(k_reserve_file).c_str());
  }
}

namespace {

ReviveHook& revive_hook() {
  static ReviveHook hook;
  return hook;
}

} // namespace

void set_revive_hook(ReviveHook hook) {
  revive_hook() = std::move(hook);
}

Fd RunDir::open_spec_for_sync() const {
  std::filesystem::path path = file(k_spec_file);
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd.valid() && errno != ENOENT) {
    throw_errno("open " + path.string());
  }
  return fd; // invalid if missing: a run written by hand or damaged, nothing to make durable
}

bool RunDir::make_launch_durable() noexcept {
  try {
    sync_spec();
    fsync_directory(m_path.parent_path());
    m_launch_durable = true;
  } catch (const std::exception&) {
    m_launch_durable = false;
  }
  return m_launch_durable;
}

void RunDir::sync_spec() const {
  Fd fd = open_spec_for_sync();
  if (fd.valid()) {
    fsync_or_throw(fd.get(), "fsync " + file(k_spec_file).string());
  }
}

std::uint64_t RunDir::stream_size(Stream stream) const {
  std::filesystem::path path = stream_path(stream);
  Fd fd = open_or_throw(path, O_RDONLY);
  return file_size(fd.get(), path.string());
}

bool RunDir::supervisor_alive() const {
  return FileLock::is_held_by_someone(file(k_lock_file));
}

RunState RunDir::read_state_resolving_lost() const {
  RunState state = read_state();
  if (is_final(state.state)) {
    return state;
  }
  // A look through a read-only fd first. Taking the lock needs O_RDWR, and the close of such
  // an fd is an IN_CLOSE_WRITE on `lock`: the event by which readers (SpoolWatch) notice a
  // supervisor's death. Each look of a live run would then wake every such reader, this
  // one included, which looks again: `wait` spun at full CPU beside the program it waited
  // for.
  if (supervisor_alive()) {
    return state;
  }
  FileLock lock = FileLock::try_exclusive(file(k_lock_file));
  if (!lock.held()) {
    return state; // alive
  }
  // We hold the lock, so no supervisor lives; read again in case it finished in between.
  state = read_state();
  if (is_final(state.state)) {
    return state;
  }
  if (state.extra.contains("far") && revive_hook() && revive_hook()(*this, state, lock)) {
    return state;
  }
  state.state = RunStatus::lost;
  state.exit_code = k_exit_chaperone_failed;
  state.error = state.supervisor_pid ? "supervisor (pid " + std::to_string(*state.supervisor_pid)
                                           + ") died before the run ended"
                                     : std::string("supervisor died before the run started");
  state.extra["lost_detected_time"] = format_utc(std::chrono::system_clock::now());
  // The program itself died with the supervisor (PR_SET_PDEATHSIG); what it started may
  // live on in its process group. A run without a supervisor has no record keeper, so that
  // group is ended too - unless the pid now names a different process (reused after the
  // leader was reaped) or the run is from an earlier boot.
  // A run's group is the program's own (pgid == pid, set at spawn): any other shape (0, 1,
  // negative, a foreign group) is a damaged or forged record, and kill() with it would hit
  // the reader itself, every process, or a stranger.
  bool plausible_group = state.pgid && state.pid && *state.pgid > 1 && *state.pgid == *state.pid;
  // Local sudo runs too: their set-uid sudo drops PR_SET_PDEATHSIG at exec, so this reader is
  // the only one left to end that group (README). Remote groups are on another host.
  std::string mode = state.target.value("mode", "local");
  if (plausible_group && state.boot_id == boot_id() && (mode == "local" || mode == "sudo")) {
    auto ticks = process_start_ticks(*state.pid);
    bool leader_is_ours = ticks && state.pid_start_ticks && ticks == state.pid_start_ticks;
    if ((leader_is_ours || !ticks) && ::kill(-*state.pgid, SIGKILL) == 0) {
      state.extra["leftovers_killed"] = true;
    }
  }
  for (Stream stream : {Stream::out, Stream::err}) {
    struct stat st {};
    std::uint64_t size = ::stat(stream_path(stream).c_str(), &st) == 0 ? st.st_size : 0;
    (stream == Stream::out ? state.stdout_bytes : state.stderr_bytes) = size;
  }
  write_state(state);
  return state;
}

StagedRun begin_staged_run(const SpoolRoot& root, const std::string& run_id) {
  std::string temp_template = (root.path() / ("." + run_id + ".XXXXXX")).string();
  if (::mkdtemp(temp_template.data()) == nullptr) {
    throw_errno("mkdtemp " + temp_template);
  }
  std::filesystem::path temp_dir = temp_template;
  try {
    FileLock lock = FileLock::try_exclusive(temp_dir / k_lock_file);
    if (!lock.held()) {
      throw std::runtime_error("lock " + (temp_dir / k_lock_file).string() + " is held already");
    }
    return StagedRun{temp_dir, RunDir(root.path() / run_id, run_id), std::move(lock)};
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir, ignored);
    throw;
  }
}

void fill_staged_run(const StagedRun& staged,
                     const nlohmann::json& spec,
                     const RunState& initial_state,
                     const std::vector<std::pair<std::string, std::string>>& extra_files) {
  RunDir building(staged.staged_path, staged.dir.run_id());
  auto create = [&building](const char* name) {
    return open_or_throw(building.file(name), O_WRONLY | O_CREAT | O_EXCL, 0600);
  };
  for (const char* name : {k_stdout_file, k_stderr_file}) {
    create(name);
  }
  {
    // Real blocks (not a sparse hole): their release is what makes room later. Past the
    // end (size 0), so that the final state written into it needs no cut to its length,
    // which would free the rest at once (RunDir::write_state, ReleaseLater). A file system
    // without FALLOC_FL_KEEP_SIZE gets them within the size, and the cut then.
    Fd reserve = create(k_reserve_file);
    if (::fallocate(reserve.get(), FALLOC_FL_KEEP_SIZE, 0, k_reserve_bytes) != 0) {
      if (errno != EOPNOTSUPP) {
        throw_errno("fallocate " + building.file(k_reserve_file).string());
      }
      if (int rc = ::posix_fallocate(reserve.get(), 0, k_reserve_bytes); rc != 0) {
        throw_error_code(rc, "fallocate " + building.file(k_reserve_file).string());
      }
    }
  }
  for (const auto& [name, content] : extra_files) {
    Fd file = create(name.c_str());
    write_all(file.get(), content, "write " + building.file(name.c_str()).string());
    fsync_or_throw(file.get(), "fsync " + building.file(name.c_str()).string());
  }
  // No fsync here: the staged dir is not durable yet either. The supervisor makes spec.json
  // durable while the program runs, and write_state() before any final state. Both written
  // in place, not through a temp file (an inode and a rename fewer): nobody reads a staged
  // run.
  std::string spec_text;
  append_json_value(spec_text, spec, 0);
  spec_text += '\n';
  write_all(create(k_spec_file).get(), spec_text, "write " + building.file(k_spec_file).string());
  write_all(create(k_state_file).get(),
            render_state(initial_state),
            "write " + building.file(k_state_file).string());
}

StagedRun stage_run(const SpoolRoot& root,
                    const std::string& run_id,
                    const nlohmann::json& spec,
                    const RunState& initial_state,
                    const std::vector<std::pair<std::string, std::string>>& extra_files) {
  StagedRun staged = begin_staged_run(root, run_id);
  try {
    fill_staged_run(staged, spec, initial_state, extra_files);
  } catch (...) {
    discard_staged_run(staged);
    throw;
  }
  return staged;
}

bool publish_run(const StagedRun& staged) {
  const std::filesystem::path& final_dir = staged.dir.path();
  // Named before it is visible (a large spool's prefix lookups: spool/run_names.hpp), under
  // the lock that keeps a rewrite of the names from missing it.
  NamesPublishLock names_lock(final_dir.parent_path());
  note_run_name(final_dir.parent_path(), staged.dir.run_id());
  if (::renameat2(
          AT_FDCWD, staged.staged_path.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE)
      == 0) {
    return true;
  }
  if (errno == EEXIST || errno == ENOTEMPTY) {
    return false;
  }
  throw_errno("rename " + staged.staged_path.string() + " to " + final_dir.string());
}

void discard_staged_run(const StagedRun& staged) noexcept {
  std::error_code ignored;
  std::filesystem::remove_all(staged.staged_path, ignored);
}

NewRun create_run(const SpoolRoot& root,
                  const std::string& run_id,
                  const nlohmann::json& spec,
                  const RunState& initial_state,
                  const std::vector<std::pair<std::string, std::string>>& extra_files) {
  StagedRun staged = stage_run(root, run_id, spec, initial_state, extra_files);
  try {
    if (!publish_run(staged)) {
      throw std::system_error(std::make_error_code(std::errc::file_exists),
                              "run " + run_id + " already exists");
    }
  } catch (...) {
    discard_staged_run(staged);
    throw;
  }
  return NewRun{staged.dir, std::move(staged.lock)};
}

} // namespace chaperone::spool
