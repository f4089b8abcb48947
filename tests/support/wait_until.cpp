// tests/support/wait_until.cpp: condition waits with deadlines.
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <thread>

namespace chaperone::test {

bool wait_until(Clock::time_point deadline,
                const std::string& what,
                const std::function<bool()>& pred) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (pred()) {
      return true;
    }
    if (Clock::now() >= deadline) {
      FAIL_CHECK("timed out waiting for " << what);
      return false;
    }
    // Re-checking a condition that has no event of its own; the deadline bounds it.
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

} // namespace chaperone::test
