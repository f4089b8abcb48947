// tests/support/wait_until.hpp: waiting for a condition with a deadline, never a bare sleep.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace chaperone::test {

using Clock = std::chrono::steady_clock;

// Deadline `d` from now.
inline Clock::time_point deadline_in(std::chrono::milliseconds d) {
  return Clock::now() + d;
}

// Re-evaluates `pred` (backing off from 1 ms to 20 ms between checks) until it holds or
// `deadline` passes. On the deadline it records a Catch failure naming `what` and returns
// false, so `REQUIRE(wait_until(...))` stops the test with a message that says what never
// happened. For conditions with no event to wait on (a file's size, a state.json field).
bool wait_until(Clock::time_point deadline,
                const std::string& what,
                const std::function<bool()>& pred);

} // namespace chaperone::test
