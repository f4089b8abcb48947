// tests/support/skip.cpp: skipping as CTest understands it.
#include "tests/support/skip.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace chaperone::test {

void skip_test(const std::string& reason) {
  std::printf("SKIPPED: %s\n", reason.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(k_skip_exit_code);
}

void skip_unless_root() {
  if (::geteuid() != 0) {
    skip_test("needs root (run as uid " + std::to_string(::geteuid()) + ")");
  }
}

} // namespace chaperone::test
