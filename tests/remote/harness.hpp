// tests/remote/harness.hpp: real processes for the cmdbuild round-trip tests: the throwaway
// sshd from scripts/test-sshd, random hostile argvs and the argv_dump output format (children
// with pipes and a deadline: tests/support/child.hpp).
#pragma once

#include "cmdbuild/command.hpp"
#include "cmdbuild/marker.hpp"
#include "tests/support/child.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace chaperone::test {

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

} // namespace chaperone::test
