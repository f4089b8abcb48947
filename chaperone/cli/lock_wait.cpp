// chaperone/cli/lock_wait.cpp: see lock_wait.hpp.
#include "chaperone/cli/lock_wait.hpp"

#include "spool/error.hpp"
#include "spool/fd.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <ctime>

namespace chaperone {

namespace {

extern "C" void interrupt_only(int /*signum*/) {}

// SIGALRM for this thread, interrupting (no SA_RESTART) a blocking call, while it exists.
class ThreadAlarm {
public:
  explicit ThreadAlarm(std::chrono::milliseconds after) {
    struct sigaction interrupt {};
    interrupt.sa_handler = interrupt_only;
    sigemptyset(&interrupt.sa_mask);
    if (::sigaction(SIGALRM, &interrupt, &m_previous_action) != 0) {
      spool::throw_errno("sigaction SIGALRM");
    }
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    (void)::pthread_sigmask(SIG_UNBLOCK, &alarm_only, &m_previous_mask);
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGALRM;
    event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
    if (::timer_create(CLOCK_MONOTONIC, &event, &m_timer) != 0) {
      int error = errno;
      restore_signal();
      errno = error;
      spool::throw_errno("timer_create");
    }
    itimerspec when{};
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(after);
    when.it_value.tv_sec = seconds.count();
    when.it_value.tv_nsec =
        std::chrono::duration_cast<std::chrono::nanoseconds>(after - seconds).count();
    if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0) {
      when.it_value.tv_nsec = 1; // zero would disarm it
    }
    when.it_interval.tv_nsec = 10'000'000;
    (void)::timer_settime(m_timer, 0, &when, nullptr);
  }
  ThreadAlarm(const ThreadAlarm&) = delete;
  ThreadAlarm& operator=(const ThreadAlarm&) = delete;
  ThreadAlarm(ThreadAlarm&&) = delete;
  ThreadAlarm& operator=(ThreadAlarm&&) = delete;
  ~ThreadAlarm() {
    (void)::timer_delete(m_timer);
    restore_signal();
  }

private:
  void restore_signal() {
    // A signal the timer sent just before its deletion is delivered while the handler that
    // ignores it is still in place: on the way back to user space from timer_delete.
    (void)::pthread_sigmask(SIG_SETMASK, &m_previous_mask, nullptr);
    (void)::sigaction(SIGALRM, &m_previous_action, nullptr);
  }

  struct sigaction m_previous_action {};
  sigset_t m_previous_mask{};
  timer_t m_timer{};
};

} // namespace

bool wait_for_lock_free(const std::filesystem::path& path, std::chrono::milliseconds limit) {
  spool::Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return true;
    }
    spool::throw_errno("open " + path.string());
  }
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
    return true; // the shared probe is released when fd closes
  }
  if (errno != EWOULDBLOCK && errno != EINTR) {
    spool::throw_errno("flock " + path.string());
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  ThreadAlarm alarm(limit);
  for (;;) {
    if (::flock(fd.get(), LOCK_SH) == 0) {
      return true;
    }
    if (errno != EINTR) {
      spool::throw_errno("flock " + path.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
  }
}

} // namespace chaperone
