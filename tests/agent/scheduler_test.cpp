// tests/agent/scheduler_test.cpp: tests/agent/scheduler.py starts 50 programs with
// `ssh 127.0.0.1 chaperone agent < program.json` through the throwaway sshd of
// scripts/test-sshd and collects every outcome from callbacks alone.
#include "tests/agent/servers.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

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
  TempSpool local; // only for a scratch dir kept on failure
  std::string dir = (local.base() / "sshd").string();
  CommandResult started = run_command({CHAPERONE_TEST_SSHD, "start", dir});
  INFO(started.out);
  REQUIRE(started.exit_code == 0);
  SshdGuard guard(dir);
  std::map<std::string, std::string> env = read_env(std::filesystem::path(dir) / "env");
  // The far side is this machine: the built binaries, copied where the login user can run
  // them (the build tree may not be readable by other users).
  std::filesystem::path bin = std::filesystem::path(dir) / "agent-bin";
  std::filesystem::create_directories(bin);
  ::chmod(bin.c_str(), 0755);
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
