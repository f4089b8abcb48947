// chaperone/logging.cpp: spdlog sinks (kept to this one file: spdlog is slow to compile).
#include "chaperone/supervisor/logging.hpp"

#include "spool/fd.hpp"
#include "spool/host.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <iterator>
#include <string_view>
#include <system_error>

namespace chaperone {

namespace {

// "2026-12-02T05:07:40.003206Z info 19203 message": the pattern
// "%Y-%m-%dT%H:%M:%S.%fZ %l %P %v" in UTC, written out by hand. spdlog's pattern_formatter
// holds one heap object per flag (a few dozen small allocations that stayed in every
// supervisor for the run's life).
class LineFormatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const spdlog::string_view_t& level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(dest),
                   "{} {} {} ",
                   spool::format_utc(msg.time),
                   std::string_view(level.data(), level.size()),
                   ::getpid());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>();
  }
};

// The supervisor's log: each line is one write(2) on an O_APPEND fd. spdlog's file sink goes
// through stdio, whose 4 KiB buffer stayed allocated in every supervisor for the run's whole
// life (docs/bench section 5) only to be flushed after each line anyway (flush_on info).
// Lines below info are now written at once too: nothing is left in a buffer at a SIGKILL.
// The file is made by the first line, not before: a new supervisor's first line comes once
// its program has started, and making an inode (~30 us, far more in a directory that just
// lost many) was on the way to that start.
// Made with its LineFormatter: base_sink's default one would compile spdlog's default pattern
// (a dozen flag formatters allocated) for set_formatter() to throw away, in every supervisor
// on its way to the program's start.
class AppendFileSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
  explicit AppendFileSink(const std::filesystem::path& path)
      : spdlog::sinks::base_sink<spdlog::details::null_mutex>(std::make_unique<LineFormatter>()),
        m_path(path.string()) {}

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!m_fd.valid()) {
      // 0666 less the umask, as fopen "a" creates it (the supervisor's umask is 077).
      m_fd = spool::open_or_throw(m_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    }
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    // A failure (disk full) throws; spdlog's logger catches it and reports it on stderr,
    // as it did for the stdio sink: logging never ends the run.
    spool::write_all(m_fd.get(), std::string_view(line.data(), line.size()), "write " + m_path);
  }
  void flush_() override {}

private:
  std::string m_path;
  spool::Fd m_fd;
};

// "chaperone: message", the pattern "chaperone: %v" written out by hand.
class PrefixFormatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    constexpr std::string_view k_prefix = "chaperone: ";
    dest.append(k_prefix.data(), k_prefix.data() + k_prefix.size());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<PrefixFormatter>();
  }
};

// The front end's log on stderr, a line a write(2), as the unbuffered stderr of stdio writes
// it. spdlog's stderr sink would compile its default pattern, then set_pattern() another:
// two dozen allocations and a few cold pages in every command, `run` included, before its
// first line (usually none) is due. A write that fails is dropped, as stdio drops it.
class StderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
  StderrSink()
      : spdlog::sinks::base_sink<spdlog::details::null_mutex>(std::make_unique<PrefixFormatter>()) {
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    try {
      spool::write_all(STDERR_FILENO, std::string_view(line.data(), line.size()), "write stderr");
    } catch (const std::system_error&) {
      // Nowhere left to say it (stderr closed, EPIPE): dropped, as stdio drops it.
    }
  }
  void flush_() override {}
};

} // namespace

std::shared_ptr<spdlog::logger> make_stderr_logger(int verbosity) {
  auto logger = std::make_shared<spdlog::logger>("chaperone", std::make_shared<StderrSink>());
  set_stderr_verbosity(*logger, verbosity);
  return logger;
}

void set_stderr_verbosity(spdlog::logger& logger, int verbosity) {
  logger.set_level(verbosity >= 2   ? spdlog::level::debug
                   : verbosity == 1 ? spdlog::level::info
                                    : spdlog::level::warn);
}

std::shared_ptr<spdlog::logger> make_supervisor_logger(const std::filesystem::path& path) {
  auto sink = std::make_shared<AppendFileSink>(path);
  auto logger = std::make_shared<spdlog::logger>("supervisor", sink);
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  return logger;
}

} // namespace chaperone
