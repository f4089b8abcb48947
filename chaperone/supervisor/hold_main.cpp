// chaperone/supervisor/hold_main.cpp: chaperone-hold, what a supervisor turns into while its
// program runs and nothing happens (hand_off.hpp). It waits, with the supervisor's signals
// (SIGCHLD, SIGTERM, SIGINT) blocked, until one of them is pending or the --timeout is due,
// takes none of them, and execs the supervisor binary back with the argv it was given: the
// resumed supervisor finds the pending signals and handles them as it always did.
//
// It costs what a static `int main() { pause(); }` costs: no C++ library, no heap, no stdio.
//
//   chaperone-hold --exe-fd FD --pgid PGID --log PATH [--deadline-ns NS] -- SUPERVISOR_ARGV...
//
// If the supervisor cannot be exec'd back (k_exec_tries, k_retry_pause_ms apart), nothing
// would ever record the run: the program's group is SIGKILLed, a line goes to PATH, and we
// exit 1, closing the run's lock. Readers then find the run `lost`, as after a SIGKILL of the
// supervisor (the program's PDEATHSIG fires at our exit too).
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

constexpr int k_exec_tries = 5;
constexpr long k_retry_pause_ms = 200;
constexpr long long k_ns_per_s = 1'000'000'000;

struct Args {
  int exe_fd = -1;
  pid_t pgid = -1;
  const char* log = nullptr;
  bool has_deadline = false;
  long long deadline_ns = 0;
  char** supervisor_argv = nullptr;
};

bool parse_number(const char* text, long long* out) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || n < 0) {
    return false;
  }
  *out = n;
  return true;
}

bool parse_args(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (std::strcmp(flag, "--") == 0) {
      args->supervisor_argv = argv + i + 1;
      break;
    }
    if (i + 1 >= argc) {
      return false;
    }
    const char* value = argv[++i];
    long long n = 0;
    if (std::strcmp(flag, "--exe-fd") == 0 && parse_number(value, &n)) {
      args->exe_fd = static_cast<int>(n);
    } else if (std::strcmp(flag, "--pgid") == 0 && parse_number(value, &n)) {
      args->pgid = static_cast<pid_t>(n);
    } else if (std::strcmp(flag, "--log") == 0) {
      args->log = value;
    } else if (std::strcmp(flag, "--deadline-ns") == 0 && parse_number(value, &n)) {
      args->has_deadline = true;
      args->deadline_ns = n;
    } else {
      return false;
    }
  }
  return args->exe_fd >= 0 && args->pgid > 1 && args->log != nullptr
         && args->supervisor_argv != nullptr && args->supervisor_argv[0] != nullptr;
}

long long monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<long long>(now.tv_sec) * k_ns_per_s + now.tv_nsec;
}

// Returns once SIGCHLD, SIGTERM or SIGINT is pending or the deadline has passed. A signalfd
// is readable while one is pending; it is never read, so the signal stays pending for the
// supervisor. If no signalfd can be made, returns at once: the supervisor then runs as it
// did before the hand-off (and may try again later).
void wait_for_work(const Args& args) {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGINT);
  // The supervisor blocked them before its exec (the mask survives it): again, to be sure.
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) {
    return;
  }
  pollfd wanted{fd, POLLIN, 0};
  for (;;) {
    timespec left{};
    timespec* timeout = nullptr;
    if (args.has_deadline) {
      long long ns = args.deadline_ns - monotonic_ns();
      if (ns <= 0) {
        break;
      }
      left.tv_sec = static_cast<time_t>(ns / k_ns_per_s);
      left.tv_nsec = static_cast<long>(ns % k_ns_per_s);
      timeout = &left;
    }
    int ready = ::ppoll(&wanted, 1, timeout, nullptr);
    if (ready > 0 || (ready < 0 && errno != EINTR)) {
      break;
    }
  }
  ::close(fd);
}

// A line assembled in a fixed buffer, without stdio: snprintf and gmtime_r would pull
// glibc's printf and time zone code into this image (~120 KiB more text to map per process).
struct Line {
  char text[512];
  std::size_t size = 0;

  void add(const char* s) {
    for (; *s != '\0' && size < sizeof text - 1; ++s) {
      text[size++] = *s;
    }
  }
  void add_number(long long value, int width = 0) {
    char digits[24];
    int n = 0;
    bool negative = value < 0;
    unsigned long long u = negative ? 0ULL - static_cast<unsigned long long>(value)
                                    : static_cast<unsigned long long>(value);
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    while (n < width) {
      digits[n++] = '0';
    }
    if (negative) {
      add("-");
    }
    while (n > 0 && size < sizeof text - 1) {
      text[size++] = digits[--n];
    }
  }
};

// The civil date of a day count since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
void civil_from_days(long long days, long long* year, int* month, int* day) {
  days += 719468;
  long long era = (days >= 0 ? days : days - 146096) / 146097;
  long long doe = days - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2 ? 1 : 0);
}

// One line in the supervisor's log format ("2026-12-03T10:00:00.000000Z error PID ...").
void log_failure(const Args& args, int error) {
  int fd = ::open(args.log, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  long long secs = now.tv_sec;
  long long year = 0;
  int month = 0;
  int day = 0;
  civil_from_days(secs / 86400, &year, &month, &day);
  long long of_day = secs % 86400;
  Line line;
  line.add_number(year, 4);
  line.add("-");
  line.add_number(month, 2);
  line.add("-");
  line.add_number(day, 2);
  line.add("T");
  line.add_number(of_day / 3600, 2);
  line.add(":");
  line.add_number(of_day / 60 % 60, 2);
  line.add(":");
  line.add_number(of_day % 60, 2);
  line.add(".");
  line.add_number(now.tv_nsec / 1000, 6);
  line.add("Z error ");
  line.add_number(::getpid());
  line.add(" chaperone-hold: execveat supervisor (fd ");
  line.add_number(args.exe_fd);
  line.add("): ");
  line.add(std::strerror(error));
  line.add("; ");
  line.add_number(k_exec_tries);
  line.add(" tries: SIGKILL to group ");
  line.add_number(args.pgid);
  line.add("\n");
  ssize_t ignored = ::write(fd, line.text, line.size);
  (void)ignored;
  ::close(fd);
}

} // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, &args)) {
    static const char usage[] = "usage: chaperone-hold --exe-fd FD --pgid PGID --log PATH "
                                "[--deadline-ns NS] -- SUPERVISOR_ARGV...\n"
                                "(started by chaperone-supervisor, not by hand)\n";
    ssize_t ignored = ::write(STDERR_FILENO, usage, sizeof usage - 1);
    (void)ignored;
    return 2;
  }
  wait_for_work(args);
  int error = 0;
  for (int attempt = 0; attempt < k_exec_tries; ++attempt) {
    ::execveat(args.exe_fd, "", args.supervisor_argv, environ, AT_EMPTY_PATH);
    error = errno;
    // A passing shortage (EAGAIN, ENOMEM, ETXTBSY while a file is being written) may clear.
    timespec pause{0, k_retry_pause_ms * 1'000'000};
    while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
  // No supervisor can come back: a program nobody records must not run on.
  ::kill(-args.pgid, SIGKILL);
  log_failure(args, error);
  return 1;
}
