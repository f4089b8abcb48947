// spool/run_retire.cpp: see run_retire.hpp.
#include "spool/run_retire.hpp"

#include "spool/error.hpp"
#include "spool/file_lock.hpp"
#include "spool/run_dir.hpp"
#include "spool/run_id.hpp"
#include "spool/run_names.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace chaperone::spool {

namespace {

// "2026-12-01T22:30:00.123456Z" -> "20261201T223000.123456Z": only run-id characters.
std::string compact_time(const std::string& iso) {
  std::string out;
  for (char c : iso) {
    if (c != '-' && c != ':') {
      out += c;
    }
  }
  return out;
}

} // namespace

std::optional<std::string> retire_run(const SpoolRoot& root, const std::string& run_id) {
  RunDir run(root.path() / run_id, run_id);
  RunState state = run.read_state_resolving_lost();
  if (!is_final(state.state)) {
    throw std::runtime_error("run " + run_id + " is still " + to_string(state.state)
                             + ": --replace only replaces a run that has ended");
  }
  // A final run's supervisor may still hold the lock for the moment it takes to exit.
  FileLock lock = FileLock::exclusive(run.file(k_lock_file));
  struct stat held {};
  struct stat current {};
  if (::fstat(lock.fd(), &held) != 0) {
    throw_errno("fstat " + run.file(k_lock_file).string());
  }
  if (::stat(run.file(k_lock_file).c_str(), &current) != 0 || current.st_ino != held.st_ino
      || current.st_dev != held.st_dev) {
    return std::nullopt;
  }
  state = run.read_state();
  std::string when = compact_time(state.end_time.empty() ? state.start_time : state.end_time);
  std::string new_id = run_id + "@" + (when.empty() ? "unknown" : when);
  if (auto problem = run_id_problem(new_id)) {
    throw std::runtime_error("cannot keep run " + run_id + " as " + new_id + ": " + *problem);
  }
  std::filesystem::path target = root.path() / new_id;
  NamesPublishLock names_lock(root.path());
  note_run_name(root.path(), new_id);
  if (::renameat2(AT_FDCWD, run.path().c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno("rename " + run.path().string() + " to " + target.string());
  }
  RunDir moved(target, new_id);
  state.run_id = new_id;
  state.extra["replaced_name"] = run_id;
  moved.write_state(state);
  return new_id;
}

} // namespace chaperone::spool
