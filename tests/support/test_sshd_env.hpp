// tests/support/test_sshd_env.hpp: the one reading of scripts/test-sshd's DIR/env, shared by
// both sshd fixtures (tests/remote: cmdbuild round trips; tests/remote_run: the binary).
#pragma once

#include <string>
#include <vector>

namespace chaperone::test {

// What `scripts/test-sshd start DIR` wrote to DIR/env.
struct TestSshdEnv {
  int port = 0;
  std::string key;        // TEST_SSHD_KEY (0600, for root)
  std::string shared_key; // TEST_SSHD_SHARED_KEY (0644 copy for the test users)
  std::string cm_dir;     // TEST_SSHD_CM_DIR (1777, for ControlPath sockets)
  std::string sudo_target;
  std::vector<std::string> users; // the login users, one per shell
};

// Fails the test (naming scripts/setup) if sshd, ssh, sudo or perl is missing or we are not
// root: the test-sshd suites create users and a sudoers rule. (Their suites also link
// root_only.cpp, which reports them skipped before this runs when not root.)
void require_test_sshd_tools();

// Parses DIR/env; REQUIREs a port and every login shell the README names (sh, bash, zsh,
// fish, tcsh) among the users.
TestSshdEnv read_test_sshd_env(const std::string& dir);

} // namespace chaperone::test
