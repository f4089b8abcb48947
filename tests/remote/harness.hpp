// tests/remote/harness.hpp: real processes for the cmdbuild round-trip tests: a child with
// pipes and a deadline, the throwaway sshd from scripts/test-sshd, random hostile argvs and
// the argv_dump output format.
#pragma once

#include "cmdbuild/command.hpp"
#include "cmdbuild/marker.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace chaperone::test {

using Argv = std::vector<std::string>;
using Clock = std::chrono::steady_clock;

struct Outcome {
  int status = 0;  // raw waitpid status
  std::string out; // stdout
  std::string err; // stderr, raw (markers included)
  int exit_code() const;
  int term_signal() const; // 0 unless killed by a signal
};

// A child with stdin, stdout and stderr on pipes, in its own process group.
class Child {
public:
  // `filter`, if given, receives stderr as it arrives; it must outlive the Child.
  explicit Child(const Argv& argv,
                 std::string input = {},
                 cmdbuild::MarkerFilter* filter = nullptr);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&&) = delete;
  Child& operator=(Child&&) = delete;
  ~Child(); // kills the group and reaps if still running

  pid_t pid() const { return m_pid; }
  // Reads both pipes until `done()` holds or both reach EOF. Fails the test at the deadline.
  template <typename Pred> void read_until(Pred done, Clock::duration timeout);
  // Reads both pipes to EOF, then reaps. Fails the test at the deadline.
  Outcome finish(Clock::duration timeout);
  std::string filtered_err() const { return m_filtered; }

private:
  bool pump(Clock::time_point deadline); // one poll round; false at EOF of both

  pid_t m_pid = -1;
  int m_in = -1;
  int m_out = -1;
  int m_err = -1;
  std::string m_input;
  std::size_t m_written = 0;
  Outcome m_outcome;
  std::string m_filtered;
  cmdbuild::MarkerFilter* m_filter = nullptr;
};

template <typename Pred> void Child::read_until(Pred done, Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (!done()) {
    if (!pump(deadline)) {
      break;
    }
  }
}

// Runs argv to completion with `input` on stdin.
Outcome run(const Argv& argv,
            const std::string& input = {},
            Clock::duration timeout = std::chrono::seconds(60));

// The sshd of scripts/test-sshd, started in a fresh temp dir and stopped on destruction.
class TestSshd {
public:
  TestSshd();
  TestSshd(const TestSshd&) = delete;
  TestSshd& operator=(const TestSshd&) = delete;
  TestSshd(TestSshd&&) = delete;
  TestSshd& operator=(TestSshd&&) = delete;
  ~TestSshd();

  const std::string& dir() const { return m_dir; }
  int port() const { return m_port; }
  const std::vector<std::string>& users() const {
    return m_users;
  } // chapsh, chapbash, chapzsh, chapfish, chaptcsh
  const std::string& sudo_target() const { return m_sudo_target; }
  // argv_dump, copied where every test user can run it.
  std::string argv_dump() const { return m_dir + "/argv_dump"; }
  // A target for `mode` reaching `login` (the sudo user for sudo modes is sudo_target(),
  // except sudo-then-ssh where the local sudo user is `login` itself). Uses a control
  // master started once per (local user, login).
  cmdbuild::Target target(cmdbuild::TargetMode mode, const std::string& login);

private:
  std::string m_dir;
  int m_port = 0;
  std::string m_key;
  std::string m_shared_key;
  std::string m_cm_dir;
  std::string m_sudo_target;
  std::vector<std::string> m_users;
  std::vector<std::string> m_masters; // "localuser:login" with a running master
};

// Fails the test (naming scripts/setup) if sshd, sudo or perl is missing or we are not root.
void require_tools();

// Random argv elements: bytes 1..255 weighted toward shell metacharacters, plus fixed
// hostile words (empty, leading '-', '=' words, '~', newlines, invalid UTF-8).
class ArgvGenerator {
public:
  explicit ArgvGenerator(std::uint64_t seed);
  std::string next();
  // Elements until their total size reaches `bytes` or their count `count`.
  Argv batch(std::size_t bytes, std::size_t count);
  std::string value(std::size_t max_length); // a random string of up to max_length bytes

private:
  std::mt19937_64 m_rng;
  std::size_t m_fixed_index = 0;
};

// The seed for this run: $CHAPERONE_TEST_SEED if set, else random (printed by the caller).
std::uint64_t test_seed();

// Parsed argv_dump output.
struct Dump {
  std::string cwd;
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  Argv args;
};
std::optional<Dump> parse_dump(const std::string& bytes);

// A program run for real through build_command: raw outcome, stderr with markers stripped,
// the parsed markers and (if stdout held one) the argv_dump record.
struct Run {
  Outcome outcome;
  std::string err;
  cmdbuild::MarkerFilter filter;
  std::optional<Dump> dump;
  std::string nonce;
};
Run run_program(const cmdbuild::Program& program,
                const cmdbuild::Target& target,
                const std::string& input = {});

// A fresh random nonce.
std::string random_nonce();

// CHECKs that `got` equals `expected`, naming the first differing element.
void check_same_args(const Argv& expected, const Argv& got);

// Human-readable rendering of a byte string for failure messages.
std::string show(const std::string& bytes);

} // namespace chaperone::test
