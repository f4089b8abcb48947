// tests/support/process_info.hpp: looking at processes from outside, through /proc. The one
// /proc scanner of the test suites: everything that walks or parses /proc goes through here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chaperone::test {

// One process as /proc/PID/stat shows it.
struct ProcessSnapshot {
  pid_t pid = 0;
  char state = '?'; // R, S, D, Z, X, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  std::uint64_t start_ticks = 0; // field 22: with the pid, names one process over time
  std::string stat;              // the whole stat line, for messages

  // Not a zombie (init here reaps orphans up to ~2 s late, and kill(2) still finds them).
  bool live() const { return state != 'Z' && state != 'X'; }
};

// /proc/PID/stat parsed, or nullopt if there is no such process (any more).
std::optional<ProcessSnapshot> read_process(pid_t pid);

// Every process in /proc now; one that ends while being listed is left out.
std::vector<ProcessSnapshot> list_processes();

// The contents of /proc/PID/NAME ("cmdline", "environ": NUL-terminated entries), or "" when
// the process is gone or the file unreadable.
std::string read_proc_file(pid_t pid, const std::string& name);

// /proc/PID/cmdline split at its NULs: the process's argv; empty when it is gone.
std::vector<std::string> read_proc_argv(pid_t pid);

// True if `entry` is one whole entry of NUL-terminated `entries` (cmdline or environ): not a
// substring of a longer one.
bool has_entry(const std::string& entries, const std::string& entry);

// One inotify watch held by a process, as /proc/PID/fdinfo shows it.
struct InotifyWatch {
  int fd = -1;             // the inotify instance's fd in that process
  int wd = -1;             // the watch descriptor in that instance
  std::uint64_t inode = 0; // the watched inode's number
  std::uint32_t mask = 0;  // the events asked for (IN_* bits)
  unsigned dev_major = 0;  // the watched inode's file system
  unsigned dev_minor = 0;
};

// Every inotify watch of every inotify instance process `pid` holds (empty when it is gone).
std::vector<InotifyWatch> inotify_watches(pid_t pid);

// The watches among `watches` on the file or directory at `path` (by device and inode).
std::vector<InotifyWatch> watches_on(const std::vector<InotifyWatch>& watches,
                                     const std::string& path);

// What is wrong with how `watches` (one process's) follow the run dir `dir`, one problem a
// line: the dir must be watched once, for IN_MOVED_TO and for none of the events fsnotify
// reports through a dir's children (those make every write of the run's program walk to the
// dir), and `lock` and state.json once each, for IN_CLOSE_WRITE alone. Empty when all is so.
std::string run_watch_problems(const std::vector<InotifyWatch>& watches, const std::string& dir);

// Field 22 of /proc/PID/stat (start time in clock ticks), or nullopt if there is no such pid.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// True if `pid` names a live process (not a zombie) and, when `start_ticks` is given, the
// same one that was started then (so a reused pid does not count). kill(pid, 0) is not
// enough: it succeeds on zombies, which init here reaps up to 2 s late.
bool process_running(pid_t pid, std::optional<std::uint64_t> start_ticks = std::nullopt);

} // namespace chaperone::test
