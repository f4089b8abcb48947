// chaperone/supervisor/raw_syscall.hpp: system calls that leave errno alone, for a child
// that shares its parent's memory until it execs (spawn.cpp). errno is thread-local memory,
// and such a child runs on its parent's thread pointer: every failing libc wrapper it
// called would write into the errno of the parent, which runs at the same time and may be
// reading its own. These return -errno on failure instead, as the kernel does.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <type_traits>

namespace chaperone::raw {

// Sanitizer runtimes keep per-thread state (AddressSanitizer's fake stacks and allocator
// caches) in thread-local memory that such a child would share with its parent, and the
// instrumented code it still calls would use it at the same time as the parent: a
// sanitizer build forks instead (its child has memory of its own), with the same raw calls.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHAPERONE_RAW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHAPERONE_RAW_SANITIZED 1
#endif
#endif
#ifdef CHAPERONE_RAW_SANITIZED
inline constexpr bool k_unsanitized = false;
#else
inline constexpr bool k_unsanitized = true;
#endif

#if defined(__x86_64__)

// True where a child sharing its parent's memory may make these calls (spawn.cpp).
inline constexpr bool k_available = k_unsanitized;

inline long syscall6(long number, long a, long b, long c, long d, long e, long f) {
  long result;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

#elif defined(__aarch64__)

inline constexpr bool k_available = k_unsanitized;

inline long syscall6(long number, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}

#else

// Elsewhere spawn.cpp forks instead of sharing memory, and libc's syscall(2) will do: a
// forked child has an errno of its own.
inline constexpr bool k_available = false;

inline long syscall6(long number, long a, long b, long c, long d, long e, long f) {
  long result = ::syscall(number, a, b, c, d, e, f);
  return result == -1 ? -errno : result;
}

#endif

// An argument as the kernel takes it: a register's worth of integer or address.
template <typename T> long word(T value) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(value);
  } else {
    return static_cast<long>(value);
  }
}

template <typename... Args> long call(long number, Args... args) {
  static_assert(sizeof...(Args) <= 6);
  long values[6] = {word(args)...};
  return syscall6(number, values[0], values[1], values[2], values[3], values[4], values[5]);
}

} // namespace chaperone::raw
