// spool/follower.cpp: streams a run's output until it is final.
#include "spool/follower.hpp"

#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"
#include "spool/reader_mark.hpp"

#include <spdlog/logger.h>
#include <uv.h>

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <system_error>

namespace chaperone::spool {

namespace {

constexpr std::uint64_t k_poll_interval_ms = 100;
// A follower behind its writer delivers in steps of at most this much per stream (into a pipe
// sendfile stops at the pipe's room first) and goes back to its loop after this many steps:
// signals and state changes are seen between batches.
constexpr std::uint64_t k_step_limit = std::uint64_t{1} << 20;
constexpr int k_steps_per_wakeup = 64;
// A step that finds less than this while output streams: the writer adds less between two
// looks than a look costs (see catch_up); the next look waits this long.
constexpr std::uint64_t k_small_step = std::uint64_t{16} * 1024;
constexpr std::uint64_t k_batch_delay_ms = 1;
// The run dir's own events (none is reported through a child: see watch_state_file).
constexpr std::uint32_t k_dir_mask =
    IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// While a run is `starting` its lock is held by the front end, which has no pidfd to watch;
// recheck that short window on a timer.
constexpr std::uint64_t k_starting_recheck_ms = 200;

// A damaged state.json after a good one: looked at again this often, for this long
// (read_state_or_wait).
constexpr std::uint64_t k_damaged_retry_ms = 2;
constexpr std::chrono::seconds k_damaged_patience{1};

} // namespace

class Follower::Impl {
public:
  Impl(RunDir run, FollowOptions options, OutputSink& sink)
      : m_run(std::move(run)), m_options(std::move(options)), m_sink(sink),
        m_reader_mark(mark_as_reader(m_run)) {
    m_offsets[0] = m_options.stdout_offset;
    m_offsets[1] = m_options.stderr_offset;
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;
  ~Impl() = default;

  RunState run();
  void stop() {
    m_done = true;
    if (m_loop_started) {
      uv_stop(&m_loop);
    }
  }
  std::uint64_t offset(Stream stream) const { return m_offsets[index(stream)]; }
  bool polled() const { return m_polling; }

private:
  static int index(Stream stream) { return stream == Stream::out ? 0 : 1; }
  bool wanted(Stream stream) const {
    return stream == Stream::out ? m_options.want_stdout : m_options.want_stderr;
  }

  void open_streams();
  void drain(Stream stream, std::uint64_t up_to);
  void drain_to_current_size(Stream stream);
  // Delivers the appends to `streams` after a wakeup for them, then re-arms their watches.
  void catch_up(const bool (&streams)[2]);
  // One step on each stream in `streams`: delivers what is new; returns how much that was.
  std::uint64_t deliver_new(const bool (&streams)[2]);
  void arm_stream(Stream stream);
  void watch_state_file();
  void set_dir_mask();
  // Re-reads state.json (unless `state` is given) and acts on it.
  void step();
  std::optional<RunState> read_state_or_wait(bool resolving_lost = false);
  void act_on_state();
  void watch_supervisor();
  void check_lost();
  void poll_supervisor(Fd pidfd);
  void finish() { stop(); }

  // Runs `fn`, parking any exception for run() to rethrow.
  template <typename Fn> void guarded(Fn&& fn) noexcept {
    try {
      fn();
    } catch (...) {
      if (!m_error) {
        m_error = std::current_exception();
      }
      stop();
    }
  }

  bool start_watch();
  void read_dir_events();
  static void on_dir_event(uv_poll_t* handle, int status, int events);
  static void on_supervisor_exit(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* handle);
  static void on_batch_timer(uv_timer_t* handle);
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_deadline(uv_timer_t* handle);

  RunDir m_run;
  FollowOptions m_options;
  OutputSink& m_sink;
  FileLock m_reader_mark; // keeps `gc` away while we follow (spool/reader_mark.hpp)
  std::uint64_t m_offsets[2] = {0, 0};
  Fd m_stream_fds[2];
  RunState m_state;
  bool m_done = false;
  bool m_polling = false;
  bool m_loop_started = false;
  // Which libuv handles below are open (closed in the destructor); kept with the other
  // flags so the object has no padding holes (clang-tidy optin.performance.Padding).
  bool m_dir_watch_open = false;
  bool m_timer_open = false;
  bool m_batch_timer_open = false;
  bool m_batch_streams[2] = {false, false}; // what the batch timer's look is for
  bool m_deadline_open = false;
  bool m_pidfd_poll_open = false;
  bool m_read_good_state = false; // see read_state_or_wait
  std::optional<std::chrono::steady_clock::time_point> m_damaged_since;
  bool m_lent_pidfd_used = false; // FollowOptions::supervisor_pidfd is watched once at most
  bool m_dir_modify = false;      // no stream watch could be had: the dir asks for IN_MODIFY
  bool m_dir_close_write = false; // state.json is missing: the dir asks for IN_CLOSE_WRITE
  std::exception_ptr m_error;

  uv_loop_t m_loop{};
  // A raw inotify fd rather than uv_fs_event: libuv always asks for IN_MODIFY, IN_ATTRIB and
  // IN_CREATE, so a `wait`-like follower would wake on every append and every temp file of
  // a state write. Here the mask holds only what this follower acts on.
  Fd m_own_inotify;   // when no instance was lent (FollowOptions::inotify_fd)
  int m_inotify = -1; // the instance in use
  int m_watch = -1;   // our watch on the run dir in it
  // One-shot IN_MODIFY watches on the stream files (-1: none armed; see arm_stream).
  int m_stream_watches[2] = {-1, -1};
  int m_state_watch = -1; // IN_CLOSE_WRITE on state.json (see watch_state_file)
  uv_poll_t m_dir_watch{};
  uv_timer_t m_timer{};
  uv_timer_t m_batch_timer{};
  uv_timer_t m_deadline{};
  Fd m_pidfd;
  uv_poll_t m_pidfd_poll{};
  std::vector<std::unique_ptr<uv_signal_t>> m_signals;
};

void Follower::Impl::open_streams() {
  for (Stream stream : {Stream::out, Stream::err}) {
    if (wanted(stream) && !m_stream_fds[index(stream)].valid()) {
      m_stream_fds[index(stream)] = open_or_throw(m_run.stream_path(stream), O_RDONLY);
    }
  }
}

void Follower::Impl::drain(Stream stream, std::uint64_t up_to) {
  if (!wanted(stream)) {
    return;
  }
  std::uint64_t& offset = m_offsets[index(stream)];
  if (offset < up_to) {
    m_sink.copy(stream, m_stream_fds[index(stream)].get(), offset, up_to - offset);
    offset = up_to;
  }
}

void Follower::Impl::drain_to_current_size(Stream stream) {
  if (!wanted(stream)) {
    return;
  }
  drain(stream, file_size(m_stream_fds[index(stream)].get(), m_run.stream_path(stream).string()));
}

void Follower::Impl::step() {
  std::optional<RunState> state = read_state_or_wait();
  if (!state) {
    return;
  }
  m_state = std::move(*state);
  act_on_state();
}

// chaperone renames each state into place, but a state.json written in place (the spool is
// an open format) can be read mid-write: empty or cut short. Once a good state was read, a
// damaged one is taken for such a write: the close that ends it (the IN_CLOSE_WRITE watch)
// or a look k_damaged_retry_ms later reads it again. Only a state.json still damaged after
// k_damaged_patience, or damaged at the first read, is reported.
std::optional<RunState> Follower::Impl::read_state_or_wait(bool resolving_lost) {
  try {
    RunState state = resolving_lost ? m_run.read_state_resolving_lost() : m_run.read_state();
    m_damaged_since.reset();
    m_read_good_state = true;
    return state;
  } catch (const std::system_error&) {
    throw;
  } catch (const std::runtime_error&) {
    auto now = std::chrono::steady_clock::now();
    if (!m_damaged_since) {
      m_damaged_since = now;
    }
    if (!m_read_good_state || now - *m_damaged_since >= k_damaged_patience || !m_timer_open) {
      throw;
    }
    uv_timer_start(&m_timer, on_timer, k_damaged_retry_ms, 0);
    return std::nullopt;
  }
}

void Follower::Impl::act_on_state() {
  if (m_done) {
    return;
  }
  if (m_options.on_state) {
    m_options.on_state(m_state);
  }
  if (m_options.until && m_options.until(m_state)) {
    finish();
    return;
  }
  if (is_final(m_state.state)) {
    // The recorded lengths are the contract: deliver exactly up to them.
    drain(Stream::out, m_state.stdout_bytes);
    drain(Stream::err, m_state.stderr_bytes);
    finish();
    return;
  }
  drain_to_current_size(Stream::out);
  drain_to_current_size(Stream::err);
  if (!m_options.follow) {
    finish();
    return;
  }
  watch_supervisor();
}

void Follower::Impl::watch_supervisor() {
  if (m_pidfd.valid()) {
    return;
  }
  if (m_options.supervisor_pidfd >= 0 && !m_lent_pidfd_used) {
    m_lent_pidfd_used = true;
    Fd pidfd{::fcntl(m_options.supervisor_pidfd, F_DUPFD_CLOEXEC, 3)};
    if (pidfd.valid()) {
      // Readable at once if the supervisor has already exited: no check_lost() needed.
      poll_supervisor(std::move(pidfd));
      return;
    }
  }
  bool same_boot = m_state.boot_id.empty() || m_state.boot_id == boot_id();
  if (m_state.supervisor_pid && same_boot) {
    Fd pidfd = open_recorded_pidfd(*m_state.supervisor_pid, m_state.supervisor_start_ticks);
    if (pidfd.valid()) {
      poll_supervisor(std::move(pidfd));
      // It may have died before the pidfd existed without anything else changing.
      check_lost();
      return;
    }
    check_lost();
    return;
  }
  // `starting`, or a supervisor from another boot: the lock alone tells.
  check_lost();
  if (!m_done && !m_polling && m_timer_open) {
    uv_timer_start(&m_timer, on_timer, k_starting_recheck_ms, 0);
  }
}

void Follower::Impl::poll_supervisor(Fd pidfd) {
  m_pidfd = std::move(pidfd);
  int rc = uv_poll_init(&m_loop, &m_pidfd_poll, m_pidfd.get());
  if (rc != 0) {
    throw_error_code(-rc, "uv_poll_init pidfd");
  }
  m_pidfd_poll.data = this;
  m_pidfd_poll_open = true;
  rc = uv_poll_start(&m_pidfd_poll, UV_READABLE, on_supervisor_exit);
  if (rc != 0) {
    throw_error_code(-rc, "uv_poll_start pidfd");
  }
}

void Follower::Impl::check_lost() {
  std::optional<RunState> state = read_state_or_wait(true);
  if (state && is_final(state->state)) {
    m_state = std::move(*state);
    act_on_state();
  }
}

// Returns false if inotify cannot be had here (instance or watch limits): poll instead.
bool Follower::Impl::start_watch() {
  if (m_options.inotify_fd >= 0) {
    m_inotify = m_options.inotify_fd;
  } else {
    m_own_inotify.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!m_own_inotify.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
        return false;
      }
      throw_errno("inotify_init1");
    }
    m_inotify = m_own_inotify.get();
  }
  // IN_MOVED_TO: state.json renamed into place; IN_DELETE: removed by some other tool (the
  // spool is an open format), which may also write it in place (watch_state_file). The
  // *_SELF events: the run dir went away. Appends are watched on the stream files
  // themselves (arm_stream).
  m_watch = ::inotify_add_watch(m_inotify, m_run.path().c_str(), k_dir_mask);
  if (m_watch < 0) {
    if (errno == ENOSPC || errno == ENOMEM) {
      int error = errno;
      m_own_inotify.reset();
      m_inotify = -1;
      errno = error; // for the caller's warning
      return false;
    }
    throw_errno("inotify watch on " + m_run.path().string());
  }
  int rc = uv_poll_init(&m_loop, &m_dir_watch, m_inotify);
  if (rc != 0) {
    throw_error_code(-rc, "uv_poll_init inotify");
  }
  m_dir_watch.data = this;
  m_dir_watch_open = true;
  watch_state_file();
  for (Stream stream : {Stream::out, Stream::err}) {
    if (wanted(stream)) {
      arm_stream(stream);
    }
  }
  rc = uv_poll_start(&m_dir_watch, UV_READABLE, on_dir_event);
  if (rc != 0) {
    throw_error_code(-rc, "uv_poll_start inotify");
  }
  return true;
}

// Reads every queued event first, then acts once per kind: a burst of appends costs one
// read of each stream to its current size, not one per event.
void Follower::Impl::read_dir_events() {
  bool streams[2] = {false, false};
  bool state = false;
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    ssize_t n = ::read(m_inotify, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      break;
    }
    if (n <= 0) {
      throw_errno("read inotify on " + m_run.path().string());
    }
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      const char* name = event->len > 0 ? event->name : "";
      if ((event->mask & IN_Q_OVERFLOW) != 0) {
        streams[0] = streams[1] = state = true;
      } else if (event->wd == m_state_watch) {
        state = true; // written in place (IN_CLOSE_WRITE), or its inode went (IN_IGNORED)
        if ((event->mask & IN_IGNORED) != 0) {
          m_state_watch = -1;
        }
      } else if (event->wd == m_stream_watches[0] || event->wd == m_stream_watches[1]) {
        // The one-shot fired (IN_MODIFY), or the watch went with its file (IN_IGNORED):
        // either way it is gone, and catch_up looks at the stream and arms it again.
        int i = event->wd == m_stream_watches[0] ? 0 : 1;
        streams[i] = true;
        m_stream_watches[i] = -1;
      } else if (event->wd != m_watch) {
        // The IN_IGNORED that follows a one-shot's IN_MODIFY, or of a replaced state.json.
      } else if ((event->mask & IN_MODIFY) != 0 && std::strcmp(name, k_stdout_file) == 0) {
        streams[0] = true; // m_dir_modify
      } else if ((event->mask & IN_MODIFY) != 0 && std::strcmp(name, k_stderr_file) == 0) {
        streams[1] = true;
      } else if ((event->mask & IN_MODIFY) == 0
                 && (event->len == 0 || std::strcmp(name, k_state_file) == 0)) {
        state = true; // state.json replaced, or the dir itself moved or removed
      }
    }
    // Room left for the largest event: the queue was empty at this read, so the read that
    // would only say EAGAIN is skipped (one syscall per wakeup while output streams). What
    // arrives later makes the fd readable again, and the loop calls us again.
    if (sizeof buffer - static_cast<size_t>(n) >= sizeof(inotify_event) + NAME_MAX + 1) {
      break;
    }
  }
  if (m_done) {
    return;
  }
  if (streams[0] || streams[1]) {
    catch_up(streams);
  }
  if (state && !m_done) {
    watch_state_file(); // a rename put a new inode there: watch that one, then read it
    step();
  }
}

std::uint64_t Follower::Impl::deliver_new(const bool (&streams)[2]) {
  std::uint64_t delivered = 0;
  for (Stream stream : {Stream::out, Stream::err}) {
    int i = index(stream);
    if (streams[i] && wanted(stream)) {
      std::uint64_t n =
          m_sink.copy_available(stream, m_stream_fds[i].get(), m_offsets[i], k_step_limit);
      m_offsets[i] += n;
      delivered += n;
    }
  }
  return delivered;
}

// Asks for the next append to `stream`'s file, once: IN_ONESHOT, so the kernel takes the watch
// off at that append and the appends after it cost the writer nothing until we ask again.
// While a watch asks for IN_MODIFY, every append makes an inotify event (allocated, compared
// with the last queued one, freed: 15-20% of the time of a program writing 128-byte lines,
// perf) whether or not we are awake to read it; taking IN_MODIFY off ourselves would leave it
// on for as long as we wait for a CPU after the wakeup.
void Follower::Impl::arm_stream(Stream stream) {
  int i = index(stream);
  if (m_dir_modify) {
    return;
  }
  std::string path = m_run.stream_path(stream).string();
  int wd = ::inotify_add_watch(m_inotify, path.c_str(), IN_MODIFY | IN_ONESHOT);
  if (wd >= 0) {
    m_stream_watches[i] = wd;
    return;
  }
  if (errno == ENOSPC || errno == ENOMEM) {
    // Out of watches: the dir watch, which we have, asks for every append instead.
    m_dir_modify = true;
    set_dir_mask();
    return;
  }
  // ENOENT: the file is gone (its dir too, or soon): the dir watch re-reads the state.
  if (errno != ENOENT) {
    throw_errno("inotify watch on " + path);
  }
}

// A state.json written in place (not renamed into place, as chaperone does) is seen by an
// IN_CLOSE_WRITE watch on the file itself, renewed after each rename. On the run dir that
// event would be reported through its children, and then every append to stdout pays a walk
// to the dir and back (dget_parent/dput: 10% of a program writing 128-byte lines, perf). Only
// while state.json is missing does the dir ask for it, to see it written there.
void Follower::Impl::watch_state_file() {
  std::string path = m_run.file(k_state_file).string();
  int wd = ::inotify_add_watch(m_inotify, path.c_str(), IN_CLOSE_WRITE);
  if (wd < 0 && errno != ENOENT && errno != ENOSPC && errno != ENOMEM) {
    throw_errno("inotify watch on " + path);
  }
  m_state_watch = wd;
  if (m_dir_close_write != (wd < 0)) {
    m_dir_close_write = wd < 0;
    set_dir_mask();
  }
}

void Follower::Impl::set_dir_mask() {
  std::uint32_t mask =
      k_dir_mask | (m_dir_modify ? IN_MODIFY : 0U) | (m_dir_close_write ? IN_CLOSE_WRITE : 0U);
  // ENOENT: the run dir is gone; its IN_DELETE_SELF is queued and re-reads the state.
  if (::inotify_add_watch(m_inotify, m_run.path().c_str(), mask) < 0 && errno != ENOENT) {
    throw_errno("inotify watch on " + m_run.path().string());
  }
}

// After a wakeup for appends to `streams` (whose one-shot watches have fired), or the batch
// timer: delivers in steps until a step finds nothing new (or a batch of steps is done, to let
// the loop run), then arms the watches again and delivers up to the sizes seen after that. An
// append updates the size before it notifies, so every append that last look does not cover
// fires the new watch: no append is left without a delivery or a wakeup.
//
// A step that finds only a little means the writer is slower than we are: looking again at
// once would hand the consumer a few lines per look (a pipe's reader woken for each, both
// switching with us on a shared CPU: 40,000 context switches for 64 MiB of 128-byte lines),
// and arming the watch would wake us at the next append for as little. So the next look
// waits k_batch_delay_ms, with no watch armed (the appends meanwhile cost the writer
// nothing). Output that keeps coming is thus delivered at most that much later; the first
// bytes after a quiet spell go out at once, and a quiet run sets no timer.
void Follower::Impl::catch_up(const bool (&streams)[2]) {
  for (int look = 0; look < k_steps_per_wakeup; ++look) {
    std::uint64_t delivered = deliver_new(streams);
    if (delivered == 0) {
      break;
    }
    if (delivered < k_small_step) {
      m_batch_streams[0] = m_batch_streams[0] || streams[0];
      m_batch_streams[1] = m_batch_streams[1] || streams[1];
      if (uv_is_active(reinterpret_cast<uv_handle_t*>(&m_batch_timer)) == 0) {
        uv_timer_start(&m_batch_timer, on_batch_timer, k_batch_delay_ms, 0);
      }
      return;
    }
  }
  for (Stream stream : {Stream::out, Stream::err}) {
    if (streams[index(stream)] && wanted(stream)) {
      arm_stream(stream);
      drain_to_current_size(stream);
    }
  }
}

void Follower::Impl::on_batch_timer(uv_timer_t* handle) {
  auto* self = static_cast<Impl*>(handle->data);
  self->guarded([&] {
    bool streams[2] = {self->m_batch_streams[0], self->m_batch_streams[1]};
    self->m_batch_streams[0] = self->m_batch_streams[1] = false;
    if (!self->m_done) {
      self->catch_up(streams);
    }
  });
}

void Follower::Impl::on_dir_event(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Impl*>(handle->data);
  self->guarded([&] {
    if (status < 0) {
      throw_error_code(-status, "inotify on " + self->m_run.path().string());
    }
    if (!self->m_done) {
      self->read_dir_events();
    }
  });
}

void Follower::Impl::on_supervisor_exit(uv_poll_t* handle, int, int) {
  auto* self = static_cast<Impl*>(handle->data);
  self->guarded([&] {
    uv_poll_stop(handle);
    // The final state, if any, was renamed into place before the supervisor exited.
    self->step();
    if (!self->m_done) {
      self->check_lost();
    }
    if (!self->m_done && self->m_pidfd_poll_open) {
      // Not final and not lost: a new supervisor took over (a durable remote run's follower
      // was restarted). Watch that one once this handle is closed; its first state write
      // names it.
      self->m_pidfd_poll_open = false;
      uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* closed) {
        auto* impl = static_cast<Impl*>(closed->data);
        impl->guarded([&] {
          impl->m_pidfd.reset();
          if (!impl->m_done) {
            impl->step();
          }
        });
      });
    }
  });
}

void Follower::Impl::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<Impl*>(handle->data);
  self->guarded([&] {
    self->step();
    if (self->m_polling && !self->m_done) {
      uv_timer_start(handle, on_timer, k_poll_interval_ms, 0);
    }
  });
}

void Follower::Impl::on_deadline(uv_timer_t* handle) {
  static_cast<Impl*>(handle->data)->stop();
}

void Follower::Impl::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Impl*>(handle->data);
  self->guarded([&] {
    if (self->m_options.on_signal) {
      self->m_options.on_signal(signum);
    }
  });
}

RunState Follower::Impl::run() {
  int rc = uv_loop_init(&m_loop);
  if (rc != 0) {
    throw_error_code(-rc, "uv_loop_init");
  }
  try {
    uv_timer_init(&m_loop, &m_timer);
    m_timer.data = this;
    m_timer_open = true;
    uv_timer_init(&m_loop, &m_batch_timer);
    m_batch_timer.data = this;
    m_batch_timer_open = true;
    if (m_options.timeout) {
      uv_timer_init(&m_loop, &m_deadline);
      m_deadline.data = this;
      m_deadline_open = true;
      uv_timer_start(
          &m_deadline, on_deadline, static_cast<uint64_t>(m_options.timeout->count()), 0);
    }
    for (int signum : m_options.signals) {
      auto handle = std::make_unique<uv_signal_t>();
      uv_signal_init(&m_loop, handle.get());
      handle->data = this;
      rc = uv_signal_start(handle.get(), on_signal, signum);
      if (rc != 0) {
        throw_error_code(-rc, "uv_signal_start " + std::to_string(signum));
      }
      m_signals.push_back(std::move(handle));
    }
    if (m_options.follow) {
      // Subscribe before the first read, so that no append falls between the two.
      if (!start_watch()) {
        if (m_options.logger) {
          m_options.logger->warn("inotify unavailable for {} ({}): polling every {} ms",
                                 m_run.path().string(),
                                 std::strerror(errno),
                                 k_poll_interval_ms);
        }
        m_polling = true;
      }
    }
    open_streams();
    step();
    if (m_polling && !m_done) {
      uv_timer_start(&m_timer, on_timer, k_poll_interval_ms, 0);
    }
    m_loop_started = true;
    if (!m_done) {
      uv_run(&m_loop, UV_RUN_DEFAULT);
    }
  } catch (...) {
    if (!m_error) {
      m_error = std::current_exception();
    }
  }
  // Close every handle and let the loop finish the closes before closing the loop.
  auto close_handle = [](auto* handle) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
    }
  };
  if (m_dir_watch_open) {
    close_handle(&m_dir_watch);
  }
  if (m_timer_open) {
    close_handle(&m_timer);
  }
  if (m_batch_timer_open) {
    close_handle(&m_batch_timer);
  }
  if (m_deadline_open) {
    close_handle(&m_deadline);
  }
  if (m_pidfd_poll_open) {
    close_handle(&m_pidfd_poll);
  }
  for (auto& handle : m_signals) {
    close_handle(handle.get());
  }
  uv_run(&m_loop, UV_RUN_DEFAULT);
  uv_loop_close(&m_loop);
  if (m_watch >= 0 && !m_own_inotify.valid()) {
    // A lent instance lives on elsewhere: nothing more should queue in it for us.
    (void)::inotify_rm_watch(m_inotify, m_watch);
    if (m_state_watch >= 0) {
      (void)::inotify_rm_watch(m_inotify, m_state_watch);
    }
    for (int wd : m_stream_watches) {
      if (wd >= 0) {
        (void)::inotify_rm_watch(m_inotify, wd);
      }
    }
  }
  if (m_error) {
    std::rethrow_exception(m_error);
  }
  return m_state;
}

Follower::Follower(RunDir run, FollowOptions options, OutputSink& sink)
    : m_impl(std::make_unique<Impl>(std::move(run), std::move(options), sink)) {}

Follower::~Follower() = default;

RunState Follower::run() {
  return m_impl->run();
}

void Follower::stop() {
  m_impl->stop();
}

std::uint64_t Follower::offset(Stream stream) const {
  return m_impl->offset(stream);
}

bool Follower::polled() const {
  return m_impl->polled();
}

} // namespace chaperone::spool
