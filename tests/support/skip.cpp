// tests/support/skip.cpp: skipping as CTest understands it.
#include "tests/support/skip.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace chaperone::test {

void skip_test(const std::string& reason) {
  (void)std::printf("SKIPPED: %s\n", reason.c_str());
  (void)std::fflush(stdout);
  (void)std::fflush(stderr);
  std::_Exit(k_skip_exit_code);
}

void skip_unless_root() {
  if (::geteuid() != 0) {
    skip_test("needs root (run as uid " + std::to_string(::geteuid()) + ")");
  }
}

} // namespace chaperone::test
