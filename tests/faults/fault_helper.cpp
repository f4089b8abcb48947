// tests/faults/fault_helper.cpp: the small program the fault tests run, under chaperone or
// around it.
//   seq N CODE CHUNK PAUSE_US ERR   "seq NNNNNNN\n" for 1..N on stdout, CHUNK lines per write,
//                                   PAUSE_US between writes; with ERR=1 also "err K\n" on
//                                   stderr after write K. Exits CODE - also when a write fails
//                                   (a full disk), after one line on stderr. With FAULT_GATE
//                                   set, waits for that file to exist before writing.
//   as-user UID GID CMD...          drop to UID/GID (no supplementary groups), then exec CMD
//   hog-inotify CMD...              open inotify instances until the per-user limit (EMFILE),
//                                   say how many on stderr, then exec CMD holding them all
#include <grp.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace {

int usage() {
  std::fprintf(stderr, "fault_helper: bad arguments\n");
  return 98;
}

unsigned long long number(const char* text) {
  return std::strtoull(text, nullptr, 10);
}

// False on a write error (errno set).
bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int run_seq(unsigned long long n,
            int code,
            unsigned long long chunk,
            unsigned long long pause_us,
            bool err) {
  // With FAULT_GATE set, wait for that file first (so a test can hold many programs alive).
  if (const char* gate = std::getenv("FAULT_GATE"); gate != nullptr && *gate != '\0') {
    while (::access(gate, F_OK) != 0) {
      timespec pace{0, 20'000'000};
      ::nanosleep(&pace, nullptr);
    }
  }
  std::string block;
  unsigned long long writes = 0;
  for (unsigned long long i = 1; i <= n; ++i) {
    char line[32];
    int len = std::snprintf(line, sizeof line, "seq %07llu\n", i);
    block.append(line, static_cast<std::size_t>(len));
    if (i % chunk == 0 || i == n) {
      if (!write_all(1, block.data(), block.size())) {
        std::fprintf(stderr, "fault_helper: write stdout: %s\n", std::strerror(errno));
        return code;
      }
      block.clear();
      ++writes;
      if (err) {
        char e[32];
        int elen = std::snprintf(e, sizeof e, "err %llu\n", writes);
        if (!write_all(2, e, static_cast<std::size_t>(elen))) {
          return code;
        }
      }
      if (pause_us > 0 && i != n) {
        timespec pace{static_cast<time_t>(pause_us / 1000000),
                      static_cast<long>(pause_us % 1000000) * 1000};
        ::nanosleep(&pace, nullptr); // pacing the output so faults land mid-run
      }
    }
  }
  return code;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  std::string mode = argv[1];
  if (mode == "seq" && argc == 7) {
    return run_seq(number(argv[2]),
                   static_cast<int>(number(argv[3])),
                   number(argv[4]) == 0 ? 1 : number(argv[4]),
                   number(argv[5]),
                   number(argv[6]) != 0);
  }
  if (mode == "as-user" && argc >= 5) {
    auto uid = static_cast<uid_t>(number(argv[2]));
    auto gid = static_cast<gid_t>(number(argv[3]));
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
      std::fprintf(
          stderr, "fault_helper: cannot become %u:%u: %s\n", uid, gid, std::strerror(errno));
      return 97;
    }
    ::execv(argv[4], argv + 4);
    std::fprintf(stderr, "fault_helper: exec %s: %s\n", argv[4], std::strerror(errno));
    return 96;
  }
  if (mode == "hog-inotify" && argc >= 3) {
    int held = 0;
    for (;;) {
      int fd = ::inotify_init1(0); // no IN_CLOEXEC: CMD inherits them all
      if (fd < 0) {
        if (errno != EMFILE) {
          std::fprintf(stderr, "fault_helper: inotify_init1: %s\n", std::strerror(errno));
          return 95;
        }
        break;
      }
      ++held;
    }
    std::fprintf(stderr, "fault_helper: holding %d inotify instances\n", held);
    ::execv(argv[2], argv + 2);
    std::fprintf(stderr, "fault_helper: exec %s: %s\n", argv[2], std::strerror(errno));
    return 96;
  }
  return usage();
}
