// tests/support/temp_spool.cpp: per-test spool roots, kept when a test fails.
#define CATCH_CONFIG_EXTERNAL_INTERFACES // for TestEventListenerBase outside the main TU
#include "tests/support/temp_spool.hpp"

#include "tests/support/process_info.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace chaperone::test {

namespace {

bool g_test_failed = false;

// Tracks whether the running test case has failed, so TempSpool knows whether to keep its
// directory. (Catch2 v2 has no query for "has the current test failed".)
class FailureTracker : public Catch::TestEventListenerBase {
public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    g_test_failed = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) {
      g_test_failed = true;
    }
    return TestEventListenerBase::assertionEnded(stats);
  }
};

} // namespace

CATCH_REGISTER_LISTENER(FailureTracker)

bool current_test_failed() {
  return g_test_failed;
}

std::string read_whole_file(const std::filesystem::path& path) {
  // read(2) into one string, not an istreambuf_iterator: a byte at a time through the
  // iterator read 100+ MB outputs at a few MB/s in the sanitizer build.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    text.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int error = errno;
      ::close(fd);
      throw std::runtime_error("read " + path.string() + ": " + std::strerror(error));
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

void write_whole_file(const std::filesystem::path& path, const std::string& data, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("write " + path.string() + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode); // O_CREAT's mode only applies to a new file, and through the umask
  ::close(fd);
}

TempSpool::TempSpool() : m_uncaught_at_start(std::uncaught_exceptions()) {
  std::string templ = (std::filesystem::temp_directory_path() / "chaperone-test.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  m_base = templ;
  m_root = m_base / "spool";
  m_scratch = m_base / "scratch";
  for (const auto& dir : {m_root, m_scratch}) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      throw std::runtime_error("mkdir " + dir.string() + ": " + std::strerror(errno));
    }
  }
}

TempSpool::~TempSpool() {
  bool unwinding = std::uncaught_exceptions() > m_uncaught_at_start;
  std::vector<std::string> leaked;
  try {
    leaked = end_leftover_runs();
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "TempSpool: ending leftover runs: %s\n", e.what());
  }
  // A test must end (or wait for) every run it starts: one still going is a leak, and a leak
  // fails the test (after it has been killed, so it cannot disturb the next one). While an
  // exception unwinds the test has failed already; the leak is only reported.
  for (const std::string& run_id : leaked) {
    (void)std::fprintf(stderr,
                       "TempSpool: run %s was still going at the end of the test: killed\n",
                       run_id.c_str());
    if (!unwinding) {
      FAIL_CHECK("run " << run_id << " was still going at the end of the test (leaked)");
    }
  }
  if (current_test_failed() || unwinding || !leaked.empty()) {
    end_callback_senders();
    (void)std::fprintf(stderr, "test failed: keeping its spool %s\n", m_root.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(m_base, ignored);
}

std::vector<std::string> TempSpool::end_leftover_runs() const {
  std::vector<std::string> leaked;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(m_root, error)) {
    nlohmann::json st;
    try {
      st = nlohmann::json::parse(read_whole_file(entry.path() / "state.json"));
    } catch (const std::exception&) {
      continue;
    }
    // Hostile-input tests plant records of any shape: only a string state can be live.
    if (!st.is_object() || !st.contains("state") || !st["state"].is_string()) {
      continue;
    }
    std::string state = st["state"].get<std::string>();
    if (state != "starting" && state != "running") {
      continue;
    }
    auto ticks = [&](const char* key) -> std::optional<std::uint64_t> {
      return st[key].is_number() ? std::optional<std::uint64_t>(st[key].get<std::uint64_t>())
                                 : std::nullopt;
    };
    // Unit tests record the test process itself as a run's "supervisor": never end that.
    auto is_us = [](const nlohmann::json& pid) {
      return pid.is_number() && (pid.get<pid_t>() == ::getpid() || pid.get<pid_t>() == ::getpgrp());
    };
    if (is_us(st["pid"]) || is_us(st["pgid"]) || is_us(st["supervisor_pid"])) {
      continue;
    }
    bool killed = false;
    if (st["pid"].is_number() && st["pgid"].is_number()
        && process_running(st["pid"].get<pid_t>(), ticks("pid_start_ticks"))) {
      killed = ::kill(-st["pgid"].get<pid_t>(), SIGKILL) == 0 || killed;
    }
    if (st["supervisor_pid"].is_number()
        && process_running(st["supervisor_pid"].get<pid_t>(), ticks("supervisor_start_ticks"))) {
      killed = ::kill(st["supervisor_pid"].get<pid_t>(), SIGKILL) == 0 || killed;
    }
    if (killed) {
      leaked.push_back(entry.path().filename().string());
    }
  }
  return leaked;
}

void TempSpool::end_callback_senders() const {
  const std::string under = m_root.string() + "/";
  for (const ProcessSnapshot& p : list_processes()) {
    std::vector<std::string> argv = read_proc_argv(p.pid);
    const std::string tool = "chaperone-callback";
    if (!p.live() || argv.size() < 2 || argv[0].size() < tool.size()
        || argv[0].compare(argv[0].size() - tool.size(), tool.size(), tool) != 0
        || argv.back().compare(0, under.size(), under) != 0) {
      continue;
    }
    if (::kill(p.pid, SIGKILL) == 0) {
      (void)std::fprintf(stderr,
                         "TempSpool: callback sender pid %d for %s killed\n",
                         static_cast<int>(p.pid),
                         argv.back().c_str());
    }
  }
}

std::vector<std::string> TempSpool::run_ids() const {
  std::vector<std::string> ids;
  for (const std::string& name : listing()) {
    if (name[0] != '.') {
      ids.push_back(name);
    }
  }
  return ids;
}

std::vector<std::string> TempSpool::listing() const {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(m_root)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string TempSpool::only_run_id() const {
  std::vector<std::string> ids = run_ids();
  REQUIRE(ids.size() == 1);
  return ids.front();
}

nlohmann::json TempSpool::state(const std::string& run_id) const {
  return nlohmann::json::parse(read_whole_file(run_dir(run_id) / "state.json"));
}

nlohmann::json TempSpool::spec(const std::string& run_id) const {
  return nlohmann::json::parse(read_whole_file(run_dir(run_id) / "spec.json"));
}

std::string TempSpool::output(const std::string& run_id, const std::string& stream) const {
  return read_whole_file(run_dir(run_id) / stream);
}

std::uintmax_t TempSpool::output_size(const std::string& run_id, const std::string& stream) const {
  return std::filesystem::file_size(run_dir(run_id) / stream);
}

bool run_lock_free(const std::filesystem::path& run_dir) {
  std::string path = (run_dir / "lock").string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  bool free = ::flock(fd, LOCK_SH | LOCK_NB) == 0;
  int saved = errno;
  ::close(fd);
  if (!free && saved != EWOULDBLOCK) {
    throw std::runtime_error("flock " + path + ": " + std::strerror(saved));
  }
  return free;
}

void TempSpool::remove_run(const std::string& run_id) const {
  std::filesystem::path dir = run_dir(run_id);
  REQUIRE(wait_until(deadline_in(std::chrono::seconds(30)),
                     "the supervisor of " + run_id + " to let go of its run",
                     [&] { return run_lock_free(dir); }));
  std::filesystem::remove_all(dir);
}

} // namespace chaperone::test
