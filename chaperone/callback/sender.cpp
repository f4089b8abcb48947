// chaperone/callback/sender.cpp: the delivery loop of chaperone-callback.
#include "chaperone/callback/sender.hpp"

#include "chaperone/client/agent_state.hpp"
#include "spool/error.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace chaperone {

namespace {

const char* stream_name(spool::Stream stream) {
  return stream == spool::Stream::out ? "stdout" : "stderr";
}

int index_of(spool::Stream stream) {
  return stream == spool::Stream::out ? 0 : 1;
}

// While the supervisor is unknown (`starting`) there is no pidfd: recheck on a short timer.
constexpr auto k_starting_recheck = std::chrono::milliseconds(200);

} // namespace

CallbackSender::CallbackSender(spool::RunDir run,
                               std::filesystem::path root,
                               CallbackConfig config,
                               std::optional<std::string> token,
                               std::shared_ptr<spdlog::logger> log)
    : m_run(std::move(run)), m_root(std::move(root)), m_config(std::move(config)),
      m_http(m_config, std::move(token)), m_log(std::move(log)) {}

bool CallbackSender::run_gone() const {
  return callback_run_removed(m_run);
}

bool CallbackSender::deliver(const std::string& url,
                             std::string_view body,
                             const std::string& content_type,
                             const std::vector<std::string>& headers) {
  for (;;) {
    HttpResult result = m_http.send(url, body, content_type, headers);
    if (result.accepted()) {
      m_progress.failed_attempts = 0;
      m_progress.last_error.clear();
      return true;
    }
    ++m_progress.failed_attempts;
    m_progress.last_error = result.error;
    m_log->warn("{} {}: {} (attempt {}; again in {} ms)",
                m_config.method,
                url,
                result.error,
                m_progress.failed_attempts,
                m_config.retry_frequency.count());
    // Visible to `cat callback.progress` while the server is away.
    write_callback_progress(m_run, m_progress);
    std::this_thread::sleep_for(m_config.retry_frequency);
    if (run_gone()) {
      m_log->info("run removed: stopping");
      clear_callback_pending(m_root, m_run.run_id());
      return false;
    }
  }
}

bool CallbackSender::send_output(spool::Stream stream, std::uint64_t up_to, bool final) {
  int i = index_of(stream);
  std::uint64_t& delivered = i == 0 ? m_progress.stdout_bytes : m_progress.stderr_bytes;
  spool::Fd file = spool::open_or_throw(m_run.stream_path(stream), O_RDONLY);
  while (delivered < up_to) {
    std::uint64_t available = up_to - delivered;
    if (!final && available < m_config.output_buffer) {
      Clock::time_point now = Clock::now();
      if (!m_pending_since[i]) {
        m_pending_since[i] = now;
      }
      if (now - *m_pending_since[i] < m_config.output_latency) {
        return true; // batch more, up to output_latency
      }
    }
    auto n = static_cast<std::size_t>(std::min(available, m_config.output_buffer));
    std::string body(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      ssize_t r =
          ::pread(file.get(), body.data() + got, n - got, static_cast<off_t>(delivered + got));
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r <= 0) {
        spool::throw_errno("pread " + m_run.stream_path(stream).string());
      }
      got += static_cast<std::size_t>(r);
    }
    std::string offset = std::to_string(delivered);
    std::string url = m_config.url + "/output/" + stream_name(stream) + "?offset=" + offset;
    if (!deliver(url,
                 body,
                 "application/octet-stream",
                 {"X-Chaperone-Run: " + m_run.run_id(),
                  std::string("X-Chaperone-Stream: ") + stream_name(stream),
                  "X-Chaperone-Offset: " + offset})) {
      return false;
    }
    delivered += n;
    write_callback_progress(m_run, m_progress);
    m_log->debug("{} bytes {}..{} accepted", stream_name(stream), offset, delivered);
    m_pending_since[i].reset();
  }
  return true;
}

void CallbackSender::watch_supervisor(const spool::RunState& state) {
  if (m_pidfd.valid() || !state.supervisor_pid
      || (!state.boot_id.empty() && state.boot_id != spool::boot_id())) {
    return;
  }
  m_pidfd = spool::open_recorded_pidfd(*state.supervisor_pid, state.supervisor_start_ticks);
}

void CallbackSender::wait_for_change(std::optional<Clock::duration> timeout) {
  // What changed is read from the files themselves.
  SenderWake wake = m_watch->wait(m_pidfd.get(), timeout);
  if (wake.supervisor) {
    m_pidfd = spool::Fd(); // dead: the next state read resolves `lost` if it left no end
  }
}

int CallbackSender::run() {
  m_progress = read_callback_progress(m_run);
  if (m_progress.completed) {
    clear_callback_pending(m_root, m_run.run_id());
    return 0;
  }
  // Subscribe before the first read, so that no state change falls between the two.
  m_watch.emplace(m_run);
  m_log->info("delivering to {} from stdout {} stderr {}",
              m_config.url,
              m_progress.stdout_bytes,
              m_progress.stderr_bytes);
  for (;;) {
    if (run_gone()) {
      m_log->info("run removed: stopping");
      clear_callback_pending(m_root, m_run.run_id());
      return 0;
    }
    // Before the sizes are read: an append after that read wakes us (each look re-arms the
    // watches that fired, so output that keeps coming wakes us once per look, not per write).
    m_watch->arm();
    // As any reader: a supervisor gone without a final state makes the run `lost` here.
    spool::RunState state = m_run.read_state_resolving_lost();
    bool final = spool::is_final(state.state);
    for (spool::Stream stream : {spool::Stream::out, spool::Stream::err}) {
      std::uint64_t size =
          final ? (stream == spool::Stream::out ? state.stdout_bytes : state.stderr_bytes)
                : std::filesystem::file_size(m_run.stream_path(stream));
      if (!send_output(stream, size, final)) {
        return 0;
      }
    }
    if (final) {
      std::string body =
          agent_state(m_run, state).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (!deliver(m_config.url + "/completed",
                   body,
                   "application/json",
                   {"X-Chaperone-Run: " + m_run.run_id()})) {
        return 0;
      }
      m_progress.completed = true;
      write_callback_progress(m_run, m_progress);
      clear_callback_pending(m_root, m_run.run_id());
      m_log->info("completed accepted ({})", spool::to_string(state.state));
      return 0;
    }
    watch_supervisor(state);
    std::optional<Clock::duration> timeout;
    Clock::time_point now = Clock::now();
    for (const auto& since : m_pending_since) {
      if (since) {
        Clock::duration left = *since + m_config.output_latency - now;
        timeout = timeout ? std::min(*timeout, left) : left;
      }
    }
    if (!m_pidfd.valid()) {
      timeout = timeout ? std::min<Clock::duration>(*timeout, k_starting_recheck)
                        : Clock::duration(k_starting_recheck);
    }
    wait_for_change(timeout);
  }
}

} // namespace chaperone
