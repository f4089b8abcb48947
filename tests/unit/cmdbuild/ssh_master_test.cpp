// tests/unit/cmdbuild/ssh_master_test.cpp: when runs may share an automatic ssh master, the
// socket name it gets, and the argv that starts it.
#include "cmdbuild/ssh_master.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace chaperone::cmdbuild;

namespace {

Target ssh_target(TargetMode mode = TargetMode::ssh) {
  Target t;
  t.mode = mode;
  t.host = "example.org";
  return t;
}

bool has_option(const std::vector<std::string>& argv, const std::string& option) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-o" && argv[i + 1] == option) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("ssh master: shared only in ssh modes that run ssh as us, and never over the user's "
          "own control settings",
          "[unit]") {
  CHECK(may_share_master(ssh_target()));
  CHECK(may_share_master(ssh_target(TargetMode::ssh_then_sudo)));
  CHECK_FALSE(may_share_master(ssh_target(TargetMode::sudo_then_ssh)));
  Target local;
  CHECK_FALSE(may_share_master(local));
  Target path = ssh_target();
  path.control_path = "/tmp/cm";
  CHECK_FALSE(may_share_master(path));
  for (const char* option : {"ControlPath=none", "controlmaster=no", "CONTROLPATH=/x"}) {
    Target t = ssh_target();
    t.ssh_options = {"ConnectTimeout=3", option};
    INFO(option);
    CHECK_FALSE(may_share_master(t));
  }
  Target other = ssh_target();
  other.ssh_options = {"ControlPersist=10", "ControlPathX=1"};
  CHECK(may_share_master(other));
}

TEST_CASE("ssh master: one socket name per connection, a different one when anything that "
          "makes the connection differs",
          "[unit]") {
  Target a = ssh_target();
  std::string name = master_socket_name(a);
  CHECK(name.size() == 19);
  CHECK(name.rfind("cm-", 0) == 0);
  CHECK(name.find_first_not_of("0123456789abcdef", 3) == std::string::npos);
  CHECK(master_socket_name(ssh_target()) == name);
  // The sudo side is not part of the connection: ssh and ssh-then-sudo share.
  Target sudo = ssh_target(TargetMode::ssh_then_sudo);
  sudo.sudo_user = "deploy";
  CHECK(master_socket_name(sudo) == name);
  std::vector<Target> others(6, a);
  others[0].host = "example.net";
  others[1].login = "ci";
  others[2].port = 2222;
  others[3].identity_file = "/k";
  others[4].ssh_options = {"ConnectTimeout=3"};
  others[5].server_alive_interval = 1;
  std::vector<std::string> names{name};
  for (const Target& t : others) {
    names.push_back(master_socket_name(t));
  }
  std::sort(names.begin(), names.end());
  CHECK(std::unique(names.begin(), names.end()) == names.end());
  // Field boundaries count: "ab"+"c" is not "a"+"bc".
  Target x = ssh_target();
  x.login = "ab";
  x.host = "c";
  Target y = ssh_target();
  y.login = "a";
  y.host = "bc";
  CHECK(master_socket_name(x) != master_socket_name(y));
}

TEST_CASE("ssh master: a socket path ssh takes as is", "[unit]") {
  CHECK(usable_master_path("/root/.local/state/chaperone/spool/.far/cm-0123456789abcdef"));
  CHECK_FALSE(usable_master_path(""));
  CHECK_FALSE(usable_master_path("relative/cm-1"));
  CHECK_FALSE(usable_master_path("/tmp/a%b/cm-1"));
  CHECK_FALSE(usable_master_path("/tmp/a b/cm-1"));
  CHECK_FALSE(usable_master_path("/tmp/a\nb/cm-1"));
  CHECK(usable_master_path("/" + std::string(k_max_master_path - 1, 'a')));
  CHECK_FALSE(usable_master_path("/" + std::string(k_max_master_path, 'a')));
}

TEST_CASE("ssh master: commands go through the socket without becoming masters; the start "
          "command forks a persistent master with no session",
          "[unit]") {
  Target t = ssh_target();
  t.login = "ci";
  t.ssh_options = {"ConnectTimeout=3"};
  Target via = via_master(t, "/s/cm-1");
  CHECK(via.control_path == "/s/cm-1");
  CHECK(via.control_master == "no");
  std::vector<std::string> start = master_start_command(t, "/s/cm-1");
  CHECK(start.front() == "ssh");
  CHECK(has_option(start, "ControlMaster=yes"));
  CHECK(has_option(start, "ControlPath=/s/cm-1"));
  CHECK(has_option(start, "ControlPersist=" + std::string(k_master_persist)));
  CHECK(has_option(start, "SessionType=none"));
  CHECK(has_option(start, "ForkAfterAuthentication=yes"));
  CHECK(has_option(start, "ConnectTimeout=3"));
  // The user's options still come first (ssh keeps the first value).
  CHECK(start[2] == "ConnectTimeout=3");
  REQUIRE(start.size() >= 2);
  CHECK(start[start.size() - 2] == "--");
  CHECK(start.back() == "example.org");
  CHECK_THROWS_AS(master_start_command(ssh_target(TargetMode::sudo_then_ssh), "/s/cm-1"),
                  std::invalid_argument);
}
