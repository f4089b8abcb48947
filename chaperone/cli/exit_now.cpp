// chaperone/cli/exit_now.cpp: see exit_now.hpp.
#include "chaperone/cli/exit_now.hpp"

#include <unistd.h>

#include <cstdio>

namespace chaperone {

void exit_now(int code) {
  (void)std::fflush(nullptr);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  ::_exit(code);
#else
  (void)code;
#endif
}

} // namespace chaperone
