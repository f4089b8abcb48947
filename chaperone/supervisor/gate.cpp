// chaperone/supervisor/gate.cpp: see gate.hpp.
#include "chaperone/supervisor/gate.hpp"

#include "chaperone/supervisor/lock_queue.hpp"
#include "chaperone/supervisor/signal_name.hpp"
#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/spool_watch.hpp"

#include <spdlog/logger.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <map>

namespace chaperone {

namespace {

using Clock = std::chrono::steady_clock;

// Blocks SIGTERM and SIGINT into a signalfd while we wait, and restores the mask after.
class WaitSignals {
public:
  WaitSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &set, &m_old) != 0) {
      spool::throw_errno("sigprocmask");
    }
    m_fd = spool::Fd{::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)};
    if (!m_fd.valid()) {
      spool::throw_errno("signalfd");
    }
  }
  WaitSignals(const WaitSignals&) = delete;
  WaitSignals& operator=(const WaitSignals&) = delete;
  WaitSignals(WaitSignals&&) = delete;
  WaitSignals& operator=(WaitSignals&&) = delete;
  ~WaitSignals() { (void)::sigprocmask(SIG_SETMASK, &m_old, nullptr); }
  int fd() const { return m_fd.get(); }
  // The signal that arrived, or 0.
  int take() const {
    signalfd_siginfo info{};
    return ::read(m_fd.get(), &info, sizeof info) == sizeof info ? static_cast<int>(info.ssi_signo)
                                                                 : 0;
  }

private:
  sigset_t m_old{};
  spool::Fd m_fd;
};

class Waiter {
public:
  Waiter(const spool::RunDir& run,
         spool::RunState& state,
         std::optional<std::chrono::milliseconds> lock_timeout,
         std::shared_ptr<spdlog::logger> log)
      : m_run(run), m_state(state), m_lock_timeout(lock_timeout), m_log(std::move(log)),
        m_inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (!m_inotify.valid()) {
      spool::throw_errno("inotify_init1");
    }
  }

  std::optional<std::string> wait_for_runs(const nlohmann::json& after,
                                           const nlohmann::json& locks);
  std::optional<std::string> take_locks(const nlohmann::json& locks, GateResult& result);
  std::optional<std::string> take_slots(const nlohmann::json& slots, GateResult& result);

private:
  static constexpr std::uint32_t k_queue_events =
      IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM;

  std::filesystem::path root() const { return m_run.path().parent_path(); }
  void try_hand_over(const std::vector<std::string>& pending, const nlohmann::json& locks);
  void watch(const std::filesystem::path& path, std::uint32_t mask) {
    if (::inotify_add_watch(m_inotify.get(), path.c_str(), mask) < 0) {
      spool::throw_errno("inotify_add_watch " + path.string());
    }
  }
  // Watches a run we wait for (--after), before each look at it: its dir for its own events
  // (state.json replaced, the dir gone), state.json and `lock` themselves for closes after
  // writing (state written in place; the supervisor's death). Not IN_CLOSE_WRITE on the dir:
  // a dir watch asking for an event reported through its children marks every child, and
  // each write(2) of that run's program to its stdout then walks to the dir and back, for as
  // long as we wait. Only while a file watch cannot be had (missing, watches used up) does
  // the dir ask for closes instead. Returns false if the dir is gone.
  bool watch_run(const std::filesystem::path& dir) {
    bool files_watched = true;
    for (const char* name : {spool::k_state_file, spool::k_lock_file}) {
      files_watched = spool::watch_closes_of(m_inotify.get(), dir / name) >= 0 && files_watched;
    }
    // After the file watches: no close falls between the dir giving them up and them.
    std::uint32_t mask = IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
                         | (files_watched ? 0U : IN_CLOSE_WRITE);
    return ::inotify_add_watch(m_inotify.get(), dir.c_str(), mask) >= 0;
  }
  // Says in state.json what we wait for (once per change). Logged first: a reader that finds
  // the run waiting finds the line, and supervisor.log, which its first line creates.
  void note_waiting(const nlohmann::json& what) {
    if (m_state.state == spool::RunStatus::waiting && m_state.extra["waiting_for"] == what) {
      return;
    }
    m_log->info("waiting for {}", what.dump());
    m_state.state = spool::RunStatus::waiting;
    m_state.extra["waiting_for"] = what;
    m_run.write_state(m_state);
  }
  // Sleeps until an inotify event, a signal or the deadline. Returns a reason to give up.
  std::optional<std::string> sleep(std::optional<Clock::time_point> deadline);
  std::optional<Clock::time_point> lock_deadline() const {
    if (!m_lock_timeout) {
      return std::nullopt;
    }
    return m_lock_wait_began + *m_lock_timeout;
  }
  std::filesystem::path locks_dir(const char* kind) const {
    std::filesystem::path dir = m_run.path().parent_path() / ".locks" / kind;
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      throw std::system_error(error, "mkdir " + dir.string());
    }
    return dir;
  }
  spool::Fd open_lock_file(const std::filesystem::path& path) {
    spool::Fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (!fd.valid()) {
      spool::throw_errno("open " + path.string());
    }
    return fd;
  }
  // F_OFD_SETLK on one byte: true if taken, false if someone conflicts.
  static bool try_lock(int fd, short type, off_t byte, const std::filesystem::path& path) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = 1;
    for (;;) {
      if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) {
        return true;
      }
      if (errno == EAGAIN || errno == EACCES) {
        return false;
      }
      if (errno != EINTR) {
        spool::throw_errno("fcntl F_OFD_SETLK " + path.string());
      }
    }
  }

  const spool::RunDir& m_run;
  spool::RunState& m_state;
  std::optional<std::chrono::milliseconds> m_lock_timeout;
  std::shared_ptr<spdlog::logger> m_log;
  spool::Fd m_inotify;
  WaitSignals m_signals;
  Clock::time_point m_lock_wait_began = Clock::now();
  // Places in the lines of our locks taken right behind the runs we follow (hand-over),
  // and whose place each one follows.
  std::map<std::string, QueueTicket> m_handed;
  std::map<std::string, std::string> m_handed_from;
};

std::optional<std::string> Waiter::sleep(std::optional<Clock::time_point> deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) {
        return "gave up waiting for a lock or slot after " + std::to_string(m_lock_timeout->count())
               + " ms";
      }
      timeout_ms = static_cast<int>(left.count());
    }
    pollfd fds[2] = {{m_inotify.get(), POLLIN, 0}, {m_signals.fd(), POLLIN, 0}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      spool::throw_errno("poll");
    }
    if (ready <= 0) {
      continue; // the deadline is checked above
    }
    if (fds[1].revents != 0) {
      if (int signum = m_signals.take(); signum != 0) {
        return "cancelled by " + signal_name(signum) + " while waiting";
      }
    }
    if (fds[0].revents != 0) {
      alignas(inotify_event) char buffer[16 * 1024];
      while (::read(m_inotify.get(), buffer, sizeof buffer) > 0) {
      }
      return std::nullopt;
    }
  }
}

// A lock handed along a chain: while every run we follow that has not ended holds a place in
// the line of each of our locks (it holds the lock or waits for it), we take places right
// behind them. Whoever queued after them then waits behind us too, so when they end the
// lock comes to us before anyone else: FCFS as if we had queued when our predecessor did.
// All locks or none, and only behind live places: we never wait for a run while sitting
// ahead of it (it could then wait for us), and a place never comes out of lock order.
void Waiter::try_hand_over(const std::vector<std::string>& pending, const nlohmann::json& locks) {
  std::map<std::string, std::pair<QueueKey, std::string>> behind; // lock -> (key, run id)
  auto all_queued = [&]() {
    behind.clear();
    for (const nlohmann::json& lock : locks) {
      std::string name = lock.at("name").get<std::string>();
      std::vector<QueueEntry> line = LockQueue(root(), "lock", name).live();
      for (const std::string& id : pending) {
        auto entry = std::find_if(
            line.begin(), line.end(), [&](const QueueEntry& e) { return e.run_id == id; });
        if (entry == line.end()) {
          return false;
        }
        if (behind.count(name) == 0 || behind[name].first < entry->key) {
          behind[name] = {entry->key, id};
        }
      }
      if (behind[name].first.parts.size() >= LockQueue::k_max_depth) {
        return false;
      }
    }
    return true;
  };
  if (!all_queued()) {
    return;
  }
  std::map<std::string, QueueTicket> tickets;
  for (const nlohmann::json& lock : locks) {
    std::string name = lock.at("name").get<std::string>();
    bool shared = lock.value("mode", "exclusive") == "shared";
    tickets[name] =
        LockQueue(root(), "lock", name).join(m_run.run_id(), !shared, behind[name].first);
  }
  // They must still be in line now that we are: then nobody could pass between them and us.
  // If one just left, we queue normally once it has ended.
  auto keys = behind;
  if (!all_queued()) {
    m_log->info("predecessor left the line of a lock while we queued behind it");
    return;
  }
  for (auto& [name, ticket] : tickets) {
    m_handed_from[name] = keys[name].second;
    m_log->info("queued for lock {} right behind run {}", name, keys[name].second);
  }
  m_handed = std::move(tickets);
}

std::optional<std::string> Waiter::wait_for_runs(const nlohmann::json& after,
                                                 const nlohmann::json& locks) {
  std::filesystem::path root = this->root();
  for (const nlohmann::json& lock : locks) {
    watch(LockQueue(root, "lock", lock.at("name").get<std::string>()).dir(), k_queue_events);
  }
  for (;;) {
    nlohmann::json pending = nlohmann::json::array();
    std::vector<std::string> pending_ids;
    for (const nlohmann::json& dep : after) {
      std::string id = dep.at("run_id").get<std::string>();
      // Watched again before each look: a state.json renamed into place since the last one
      // is a new inode.
      if (!watch_run(root / id)) {
        return "dependency " + id + " is gone";
      }
      spool::RunDir other(root / id, id);
      spool::RunState other_state;
      try {
        other_state = other.read_state_resolving_lost();
      } catch (const std::exception& e) {
        return "dependency " + id + " cannot be read: " + e.what();
      }
      if (!spool::is_final(other_state.state)) {
        pending.push_back("run " + id);
        pending_ids.push_back(id);
        continue;
      }
      int code = other_state.cli_exit_code();
      if (dep.value("ok", false) && code != 0) {
        return "dependency " + id + " ended " + spool::to_string(other_state.state) + " (exit "
               + std::to_string(code) + ")";
      }
    }
    if (pending.empty()) {
      return std::nullopt;
    }
    if (m_handed.empty() && !locks.empty()) {
      try_hand_over(pending_ids, locks);
    }
    for (const auto& [name, from] : m_handed_from) {
      bool shared = !m_handed.at(name).exclusive();
      std::string what = "lock " + name;
      what += shared ? " (shared, next after " : " (exclusive, next after ";
      what += from;
      what += ")";
      pending.push_back(what);
    }
    note_waiting(pending);
    if (auto reason = sleep(std::nullopt)) {
      return reason;
    }
  }
}

std::optional<std::string> Waiter::take_locks(const nlohmann::json& locks, GateResult& result) {
  m_lock_wait_began = Clock::now();
  std::filesystem::path dir = locks_dir("lock");
  for (const nlohmann::json& lock : locks) { // sorted by name by the front end
    std::string name = lock.at("name").get<std::string>();
    bool shared = lock.value("mode", "exclusive") == "shared";
    std::filesystem::path path = dir / name;
    spool::Fd fd = open_lock_file(path);
    watch(path, IN_CLOSE_WRITE);
    LockQueue queue(root(), "lock", name);
    watch(queue.dir(), k_queue_events);
    QueueTicket ticket = m_handed.count(name) != 0 ? std::move(m_handed[name])
                                                   : queue.join(m_run.run_id(), !shared, {});
    for (;;) {
      if (LockQueue::may_go(queue.live(), ticket.key(), !shared)
          && try_lock(fd.get(), shared ? F_RDLCK : F_WRLCK, 0, path)) {
        // Someone may have queued ahead of us (a hand-over) while we looked: then the lock
        // is theirs. Closing gives it back and wakes them.
        if (LockQueue::may_go(queue.live(), ticket.key(), !shared)) {
          break;
        }
        m_log->info("lock {}: a run ahead in line came first, giving it back", name);
        fd = open_lock_file(path);
      }
      note_waiting(
          nlohmann::json::array({"lock " + name + (shared ? " (shared)" : " (exclusive)")}));
      if (auto reason = sleep(lock_deadline())) {
        return *reason + " (lock " + name + ")";
      }
    }
    m_log->info("holding lock {} ({})", name, shared ? "shared" : "exclusive");
    result.held.push_back(std::move(fd));
    // Our place stays while we hold the lock: a successor queues right behind it.
    result.held.push_back(ticket.take_fd());
  }
  return std::nullopt;
}

std::optional<std::string> Waiter::take_slots(const nlohmann::json& slots, GateResult& result) {
  std::filesystem::path dir = locks_dir("slots");
  for (const nlohmann::json& group : slots) {
    std::string name = group.at("name").get<std::string>();
    int count = group.at("count").get<int>();
    std::filesystem::path path = dir / name;
    spool::Fd fd = open_lock_file(path);
    watch(path, IN_CLOSE_WRITE);
    LockQueue queue(root(), "slots", name);
    watch(queue.dir(), k_queue_events);
    // Our place in line: only the first may take a free slot (nobody queues ahead of an
    // existing place in a slot line). Dropped once we hold one, which wakes the next.
    QueueTicket ticket = queue.join(m_run.run_id(), true, {});
    for (;;) {
      int taken = -1;
      if (LockQueue::may_go(queue.live(), ticket.key(), true)) {
        for (int slot = 0; slot < count && taken < 0; ++slot) {
          if (try_lock(fd.get(), F_WRLCK, slot, path)) {
            taken = slot;
          }
        }
      }
      if (taken >= 0) {
        m_log->info("holding slot {} of {} ({})", taken, count, name);
        m_state.extra["slots_held"][name] = taken;
        break;
      }
      note_waiting(
          nlohmann::json::array({"slot of " + name + " (" + std::to_string(count) + " in use)"}));
      if (auto reason = sleep(lock_deadline())) {
        return *reason + " (slots " + name + ")";
      }
    }
    result.held.push_back(std::move(fd));
  }
  return std::nullopt;
}

nlohmann::json array_or_empty(const nlohmann::json& config, const char* key) {
  return config.is_object() && config.contains(key) && config[key].is_array()
             ? config[key]
             : nlohmann::json::array();
}

} // namespace

bool gate_may_wait(const nlohmann::json& spec) {
  const nlohmann::json config = spec.value("config", nlohmann::json::object());
  return !array_or_empty(config, "after").empty() || !array_or_empty(config, "locks").empty()
         || !array_or_empty(config, "slots").empty();
}

GateResult pass_gate(const spool::RunDir& run,
                     const nlohmann::json& spec,
                     spool::RunState& state,
                     const std::shared_ptr<spdlog::logger>& log) {
  GateResult result;
  if (!gate_may_wait(spec)) {
    return result;
  }
  const nlohmann::json config = spec.value("config", nlohmann::json::object());
  nlohmann::json after = array_or_empty(config, "after");
  nlohmann::json locks = array_or_empty(config, "locks");
  nlohmann::json slots = array_or_empty(config, "slots");
  std::optional<std::chrono::milliseconds> lock_timeout;
  if (config.contains("lock_timeout_ms") && config["lock_timeout_ms"].is_number()) {
    lock_timeout = std::chrono::milliseconds(config["lock_timeout_ms"].get<std::int64_t>());
  }
  Waiter waiter(run, state, lock_timeout, log);
  result.skipped = waiter.wait_for_runs(after, locks);
  if (!result.skipped) {
    result.skipped = waiter.take_locks(locks, result);
  }
  if (!result.skipped) {
    result.skipped = waiter.take_slots(slots, result);
  }
  if (result.skipped) {
    result.held.clear(); // released at once, not when we exit
  }
  nlohmann::json held = nlohmann::json::array();
  if (!result.skipped) {
    for (const nlohmann::json& lock : locks) {
      held.push_back(lock);
    }
    state.extra["locks_held"] = held;
  }
  state.extra.erase("waiting_for");
  return result;
}

} // namespace chaperone
