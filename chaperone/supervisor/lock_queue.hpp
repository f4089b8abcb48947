// chaperone/supervisor/lock_queue.hpp: the first-come-first-served line in front of one
// --lock or --slots name, kept as ticket files that die with their holder.
#pragma once

#include "spool/fd.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace chaperone {

// A place in a line: compared part by part, a prefix first. A fresh ticket is one number
// from a counter shared by every line; a ticket handed over from a predecessor extends the
// predecessor's key by one more number, so it sorts right behind it and ahead of everyone
// who queued after the predecessor.
struct QueueKey {
  std::vector<std::uint64_t> parts;
  friend bool operator<(const QueueKey& a, const QueueKey& b) { return a.parts < b.parts; }
  friend bool operator==(const QueueKey& a, const QueueKey& b) { return a.parts == b.parts; }
};

// A live ticket as another supervisor sees it.
struct QueueEntry {
  QueueKey key;
  bool exclusive = true;
  std::string run_id;
};

// Our own ticket: the open ticket file, write-locked (F_OFD_SETLK) while we hold it. Closing
// it, or our death (SIGKILL included), makes it dead: others skip it and sweep it away.
class QueueTicket {
public:
  QueueTicket() = default;
  QueueTicket(QueueKey key, bool exclusive, spool::Fd fd)
      : m_key(std::move(key)), m_exclusive(exclusive), m_fd(std::move(fd)) {}
  const QueueKey& key() const { return m_key; }
  bool exclusive() const { return m_exclusive; }
  bool valid() const { return m_fd.valid(); }
  // The fd to keep for as long as the place (or what it got) is ours.
  spool::Fd take_fd() { return std::move(m_fd); }

private:
  QueueKey m_key;
  bool m_exclusive = true;
  spool::Fd m_fd;
};

// The line for <root>/.locks/lock/NAME or <root>/.locks/slots/NAME: the directory
// <root>/.locks/queue/KIND/NAME holds one file per ticket, named after its key and mode
// ("0000000042.0000000057-x", "-s" for shared), containing the run id. A ticket is created
// and write-locked under a temp name and renamed into place (under the counter's lock,
// <root>/.locks/queue/.seq), so every ticket a reader sees was locked before it appeared.
class LockQueue {
public:
  // Handed-over keys are at most this many parts long; a longer chain queues at the end.
  static constexpr std::size_t k_max_depth = 16;

  LockQueue(const std::filesystem::path& root, const std::string& kind, const std::string& name);

  const std::filesystem::path& dir() const { return m_dir; }

  // Takes a ticket: at the end of the line, or right behind `after` (a live ticket of a run
  // this one follows).
  QueueTicket
  join(const std::string& run_id, bool exclusive, const std::optional<QueueKey>& after) const;

  // The live tickets, in line order. Dead ones are removed on the way.
  std::vector<QueueEntry> live() const;

  // Whether a ticket `key` may try for the lock now: nobody ahead of it in `line` would
  // conflict (an exclusive ticket conflicts with any other, a shared one with exclusive
  // ones). Holders keep their ticket, so this also waits behind them.
  static bool may_go(const std::vector<QueueEntry>& line, const QueueKey& key, bool exclusive);

private:
  std::filesystem::path m_queue_root; // <root>/.locks/queue
  std::filesystem::path m_dir;
};

} // namespace chaperone
