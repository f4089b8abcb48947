// tests/support/lock_holder.hpp: a real process that holds LOCK_EX on a file, as a supervisor
// holds its run's lock, for the tests of the waits on it.
#pragma once

#include <sys/types.h>

#include <filesystem>

namespace chaperone::test {

// A child process that takes LOCK_EX on `path` (creating it), and has done so when the
// constructor returns (it says so on a pipe: an event, not a sleep). It lets go of the lock
// while it lives on when told to (let_go), or with its life (kill). The destructor kills and
// reaps it.
class LockHolder {
public:
  explicit LockHolder(const std::filesystem::path& path);
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  LockHolder(LockHolder&&) = delete;
  LockHolder& operator=(LockHolder&&) = delete;
  ~LockHolder();

  pid_t pid() const { return m_pid; }
  // Unlocks; the process stays alive (a supervisor that let go and has yet to exit).
  void let_go();
  // SIGKILL: the kernel's close of its fd drops the lock.
  void kill();
  // Waits for it after kill().
  void reap();

private:
  pid_t m_pid = -1;
  int m_release = -1;
};

} // namespace chaperone::test
