// tests/support/test_sshd_env.cpp: parsing scripts/test-sshd's env file.
#include "tests/support/test_sshd_env.hpp"

#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <sstream>

namespace chaperone::test {

void require_test_sshd_tools() {
  for (const char* tool : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sudo", "/usr/bin/perl"}) {
    if (::access(tool, X_OK) != 0) {
      FAIL(tool << " is missing: run scripts/setup to install the test dependencies");
    }
  }
  if (::geteuid() != 0) {
    FAIL("the ssh and sudo tests must run as root (they create test users and a sudoers "
         "rule): see scripts/setup");
  }
}

TestSshdEnv read_test_sshd_env(const std::string& dir) {
  TestSshdEnv env;
  std::istringstream lines(read_whole_file(dir + "/env"));
  for (std::string line; std::getline(lines, line);) {
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "TEST_SSHD_PORT") {
      env.port = std::stoi(value);
    } else if (key == "TEST_SSHD_KEY") {
      env.key = value;
    } else if (key == "TEST_SSHD_SHARED_KEY") {
      env.shared_key = value;
    } else if (key == "TEST_SSHD_CM_DIR") {
      env.cm_dir = value;
    } else if (key == "TEST_SSHD_SUDO_TARGET") {
      env.sudo_target = value;
    } else if (key == "TEST_SSHD_USERS") {
      std::istringstream words(value);
      for (std::string w; words >> w;) {
        env.users.push_back(w);
      }
    }
  }
  REQUIRE(env.port > 0);
  for (const char* user : {"chapsh", "chapbash", "chapzsh", "chapfish", "chaptcsh"}) {
    INFO("test-sshd did not create " << user);
    REQUIRE(std::find(env.users.begin(), env.users.end(), user) != env.users.end());
  }
  return env;
}

} // namespace chaperone::test
