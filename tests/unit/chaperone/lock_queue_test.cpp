// tests/unit/chaperone/lock_queue_test.cpp: the first-come-first-served line in front of a
// --lock or --slots name, on real files and real OFD locks in a temp spool.
#include "chaperone/supervisor/lock_queue.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

using chaperone::LockQueue;
using chaperone::QueueEntry;
using chaperone::QueueKey;
using chaperone::QueueTicket;
using chaperone::test::TempSpool;

namespace {

std::vector<std::string> run_ids(const std::vector<QueueEntry>& line) {
  std::vector<std::string> ids;
  for (const QueueEntry& entry : line) {
    ids.push_back(entry.run_id);
  }
  return ids;
}

} // namespace

TEST_CASE("tickets line up in the order they were taken; a handed-over one right behind its "
          "predecessor",
          "[unit][lock_queue]") {
  TempSpool spool;
  LockQueue queue(spool.root(), "lock", "vm");
  QueueTicket a = queue.join("a", true, {});
  QueueTicket x = queue.join("x", true, {});
  QueueTicket b = queue.join("b", false, a.key());
  QueueTicket c = queue.join("c", true, b.key());
  std::vector<QueueEntry> line = queue.live();
  CHECK(run_ids(line) == std::vector<std::string>{"a", "b", "c", "x"});
  CHECK(line[1].exclusive == false);
  CHECK(b.key().parts.size() == 2);
  CHECK(c.key().parts.size() == 3);
  // Another line shares the counter but not the tickets.
  CHECK(LockQueue(spool.root(), "slots", "vm").live().empty());
}

TEST_CASE("a closed ticket is dead: it leaves the line and its file is swept",
          "[unit][lock_queue]") {
  TempSpool spool;
  LockQueue queue(spool.root(), "lock", "k");
  QueueTicket first = queue.join("first", true, {});
  QueueTicket second = queue.join("second", true, {});
  CHECK(queue.live().size() == 2);
  {
    chaperone::spool::Fd gone = first.take_fd(); // closed at the end of this scope
  }
  CHECK(run_ids(queue.live()) == std::vector<std::string>{"second"});
  size_t files = 0;
  for ([[maybe_unused]] const auto& item : std::filesystem::directory_iterator(queue.dir())) {
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("a ticket file nobody holds, or a name that is no ticket, does not hold up the line",
          "[unit][lock_queue]") {
  TempSpool spool;
  LockQueue queue(spool.root(), "lock", "k");
  chaperone::test::write_whole_file(queue.dir() / "0000000000-x", "forged\n");
  chaperone::test::write_whole_file(queue.dir() / "notes.txt", "");
  QueueTicket mine = queue.join("mine", true, {});
  std::vector<QueueEntry> line = queue.live();
  CHECK(run_ids(line) == std::vector<std::string>{"mine"});
  CHECK(LockQueue::may_go(line, mine.key(), true));
  CHECK(!std::filesystem::exists(queue.dir() / "0000000000-x"));
  CHECK(std::filesystem::exists(queue.dir() / "notes.txt"));
}

TEST_CASE("who may try: nobody conflicting ahead; shared passes shared, never exclusive",
          "[unit][lock_queue]") {
  auto entry = [](std::vector<std::uint64_t> parts, bool exclusive) {
    return QueueEntry{QueueKey{std::move(parts)}, exclusive, ""};
  };
  std::vector<QueueEntry> shared_first{entry({1}, false), entry({2}, true), entry({3}, false)};
  CHECK(LockQueue::may_go(shared_first, QueueKey{{1}}, false));
  CHECK(!LockQueue::may_go(shared_first, QueueKey{{2}}, true));    // behind a shared holder
  CHECK(!LockQueue::may_go(shared_first, QueueKey{{3}}, false));   // behind an exclusive waiter
  CHECK(LockQueue::may_go(shared_first, QueueKey{{1, 9}}, false)); // handed over from 1
  CHECK(!LockQueue::may_go(shared_first, QueueKey{{1, 9}}, true));
  std::vector<QueueEntry> shared_only{entry({4}, false), entry({5}, false)};
  CHECK(LockQueue::may_go(shared_only, QueueKey{{5}}, false));
  CHECK(!LockQueue::may_go(shared_only, QueueKey{{5}}, true));
  CHECK(LockQueue::may_go({}, QueueKey{{7}}, true));
}
