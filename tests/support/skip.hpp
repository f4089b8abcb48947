// tests/support/skip.hpp: a test that cannot run here says so and is reported as skipped by
// CTest, never as passed. Catch2 v2 has no skip, so the test process exits with
// k_skip_exit_code, which every suite declares as CTest's SKIP_RETURN_CODE. Each CTest test
// is one Catch test case in its own process, so nothing else is cut short.
#pragma once

#include <string>

namespace chaperone::test {

inline constexpr int k_skip_exit_code = 77;

// Prints "SKIPPED: <reason>" and exits with k_skip_exit_code at once (no destructors run:
// call it before the test creates anything, and outside SECTIONs, which rerun the case).
[[noreturn]] void skip_test(const std::string& reason);

// skip_test unless running as root (test users, chown, mounts, sudoers, sshd).
void skip_unless_root();

} // namespace chaperone::test
