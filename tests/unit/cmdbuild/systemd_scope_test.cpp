// tests/unit/cmdbuild/systemd_scope_test.cpp: the systemd-run prefix of --systemd-scope.
#include "cmdbuild/systemd_scope.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using chaperone::cmdbuild::systemd_scope_argv;

TEST_CASE("a user's supervisor goes into a scope of the user manager", "[cmdbuild]") {
  std::vector<std::string> argv = systemd_scope_argv("/usr/bin/systemd-run", false);
  CHECK(argv
        == std::vector<std::string>{"/usr/bin/systemd-run",
                                    "--user",
                                    "--scope",
                                    "--quiet",
                                    "--collect",
                                    "--description=chaperone supervisor",
                                    "--"});
}

TEST_CASE("root's supervisor goes into a scope of the system manager", "[cmdbuild]") {
  std::vector<std::string> argv = systemd_scope_argv("/bin/systemd-run", true);
  REQUIRE(!argv.empty());
  CHECK(argv.front() == "/bin/systemd-run");
  CHECK(std::find(argv.begin(), argv.end(), "--user") == argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "--scope") != argv.end());
  CHECK(argv.back() == "--");
}
