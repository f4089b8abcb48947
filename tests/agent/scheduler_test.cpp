// tests/agent/scheduler_test.cpp: tests/agent/scheduler.py starts 50 programs with
// `ssh 127.0.0.1 chaperone agent < program.json` through the throwaway sshd of
// scripts/test-sshd and collects every outcome from callbacks alone.
#include "tests/agent/servers.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>

using namespace chaperone::test;

namespace {

std::map<std::string, std::string> read_env(const std::filesystem::path& file) {
  std::map<std::string, std::string> env;
  std::istringstream lines(read_whole_file(file));
  std::string line;
  while (std::getline(lines, line)) {
    std::size_t eq = line.find('=');
    if (eq != std::string::npos) {
      env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return env;
}

// Stops the sshd (and removes its dir) however the test ends.
struct SshdGuard {
  std::string dir;
  SshdGuard(const SshdGuard&) = delete;
  SshdGuard& operator=(const SshdGuard&) = delete;
  SshdGuard(SshdGuard&&) = delete;
  SshdGuard& operator=(SshdGuard&&) = delete;
  explicit SshdGuard(std::string d) : dir(std::move(d)) {}
  ~SshdGuard() { (void)run_command({CHAPERONE_TEST_SSHD, "stop", dir}); }
};

} // namespace

TEST_CASE("a scheduler starts 50 programs over ssh with `chaperone agent` and learns every "
          "outcome from callbacks alone",
          "[agent][ssh]") {
  // sshd reads a login user's authorized keys as that user, and the login user runs the
  // binaries: both must live where chapsh can reach them, which a TempSpool (0700, root's)
  // is not. So this test gets a 0755 directory of its own, removed at the end.
  char root_template[] = "/tmp/chap-agent-XXXXXX";
  REQUIRE(::mkdtemp(root_template) != nullptr);
  struct RootGuard {
    std::filesystem::path path;
    ~RootGuard() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } root_guard{root_template};
  REQUIRE(::chmod(root_template, 0755) == 0);
  std::string dir = (root_guard.path / "sshd").string();
  CommandResult started = run_command({CHAPERONE_TEST_SSHD, "start", dir});
  INFO(started.out);
  REQUIRE(started.exit_code == 0);
  SshdGuard guard(dir);
  std::map<std::string, std::string> env = read_env(std::filesystem::path(dir) / "env");
  // The far side is this machine: the built binaries, copied where the login user can run
  // them (the build tree may not be readable by other users).
  std::filesystem::path bin = root_guard.path / "agent-bin";
  std::filesystem::create_directories(bin);
  REQUIRE(::chmod(bin.c_str(), 0755) == 0);
  for (const char* path : {CHAPERONE_BIN_DIR "/chaperone",
                           CHAPERONE_BIN_DIR "/chaperone-supervisor",
                           CHAPERONE_BIN_DIR "/chaperone-callback"}) {
    std::filesystem::path to = bin / std::filesystem::path(path).filename();
    std::filesystem::copy_file(path, to, std::filesystem::copy_options::overwrite_existing);
    ::chmod(to.c_str(), 0755);
  }
  // A fresh spool per test in the login user's home.
  std::string spool = "/tmp/chap-agent-spool-" + std::to_string(::getpid());
  std::vector<std::string> argv = {"python3",
                                   agent_test_dir() + "/scheduler.py",
                                   "--chaperone",
                                   "CHAPERONE_SPOOL=" + spool + " " + (bin / "chaperone").string(),
                                   "--count",
                                   "50",
                                   "--",
                                   "ssh",
                                   "-p",
                                   env["TEST_SSHD_PORT"],
                                   "-i",
                                   env["TEST_SSHD_KEY"],
                                   "-o",
                                   "StrictHostKeyChecking=no",
                                   "-o",
                                   "UserKnownHostsFile=/dev/null",
                                   "-o",
                                   "BatchMode=yes",
                                   "-o",
                                   "LogLevel=ERROR",
                                   "chapsh@127.0.0.1"};
  CommandResult r = run_command(argv);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\"problems\": 0") != std::string::npos);
  (void)run_command({"runuser", "-u", "chapsh", "--", "rm", "-rf", spool});
}
