// tests/remote/ssh_roundtrip_test.cpp: random argvs, odd cwds and env values reach the far
// side byte for byte through the real sshd, for each login shell and each ssh mode.
#include "tests/remote/harness.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace chaperone;
using namespace chaperone::test;
using cmdbuild::TargetMode;

namespace {

constexpr int k_invocations = 3;

void roundtrip_all_shells(TargetMode mode) {
  std::uint64_t seed = test_seed();
  INFO("CHAPERONE_TEST_SEED=" << seed);
  TestSshd sshd;
  ArgvGenerator gen(seed);
  std::string summary;
  for (const std::string& user : sshd.users()) {
    cmdbuild::Target target = sshd.target(mode, user);
    std::size_t compared = 0;
    for (int i = 0; i < k_invocations; ++i) {
      cmdbuild::Program program;
      Argv args = gen.batch(30000, 2000);
      program.argv = {sshd.argv_dump()};
      program.argv.insert(program.argv.end(), args.begin(), args.end());
      Run r = run_program(program, target);
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user
                   << ", stderr: " << show(r.outcome.err));
      REQUIRE(r.outcome.exit_code() == 0);
      REQUIRE(r.dump.has_value());
      check_same_args(args, r.dump->args);
      CHECK(r.err.empty());
      CHECK(r.filter.exit_code() == 0);
      REQUIRE(r.filter.pid().has_value());
      CHECK(r.filter.pgid() == r.filter.pid());
      compared += args.size();
    }
    summary += " " + user + "=" + std::to_string(compared);
  }
  WARN(cmdbuild::to_string(mode) << ": args compared per login shell:" << summary);
}

void cwd_and_env_all_shells(TargetMode mode) {
  std::uint64_t seed = test_seed();
  INFO("CHAPERONE_TEST_SEED=" << seed);
  TestSshd sshd;
  ArgvGenerator gen(seed);
  std::string cwd = sshd.dir() + "/-od d'\"$`\\*?~\n\t\xff\xc3\xa9 =x";
  REQUIRE(::mkdir(cwd.c_str(), 0755) == 0);
  for (const std::string& user : sshd.users()) {
    cmdbuild::Target target = sshd.target(mode, user);
    for (int i = 0; i < 10; ++i) {
      cmdbuild::Program program;
      program.argv = {sshd.argv_dump(), "x"};
      program.cwd = cwd;
      program.env = {{"ARGV_DUMP_ENV", "CHAP_E1,CHAP_E2,CHAP_E3,CHAP_UNSET"}};
      for (int k = 1; k <= 3; ++k) {
        program.env.emplace_back("CHAP_E" + std::to_string(k), gen.value(60));
      }
      Run r = run_program(program, target);
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user
                   << ", stderr: " << show(r.outcome.err));
      REQUIRE(r.outcome.exit_code() == 0);
      REQUIRE(r.dump.has_value());
      CHECK(r.dump->cwd == cwd);
      REQUIRE(r.dump->env.size() == 4);
      for (std::size_t k = 0; k < 3; ++k) {
        CHECK(r.dump->env[k].second == program.env[k + 1].second);
      }
      CHECK_FALSE(r.dump->env[3].second.has_value());
      CHECK(r.dump->args == Argv{"x"});
    }
    cmdbuild::Program umask_probe;
    umask_probe.argv = {"/bin/sh", "-c", "umask"};
    umask_probe.umask = 027;
    Run r = run_program(umask_probe, target);
    CHECK(r.outcome.out == "0027\n");
  }
}

} // namespace

TEST_CASE("ssh delivers random argvs byte for byte for every login shell", "[ssh]") {
  roundtrip_all_shells(TargetMode::ssh);
}

TEST_CASE("ssh-then-sudo delivers random argvs byte for byte for every login shell",
          "[ssh][sudo]") {
  roundtrip_all_shells(TargetMode::ssh_then_sudo);
}

TEST_CASE("sudo-then-ssh delivers random argvs byte for byte for every login shell",
          "[ssh][sudo]") {
  roundtrip_all_shells(TargetMode::sudo_then_ssh);
}

TEST_CASE("ssh modes apply an odd cwd and random env values for every login shell", "[ssh][sudo]") {
  for (TargetMode mode : {TargetMode::ssh, TargetMode::ssh_then_sudo, TargetMode::sudo_then_ssh}) {
    cwd_and_env_all_shells(mode);
  }
}

TEST_CASE("ssh as root delivers hostile argvs byte for byte", "[ssh]") {
  TestSshd sshd;
  ArgvGenerator gen(test_seed());
  cmdbuild::Program program;
  Argv args = gen.batch(5000, 300);
  program.argv = {sshd.argv_dump()};
  program.argv.insert(program.argv.end(), args.begin(), args.end());
  Run r = run_program(program, sshd.target(TargetMode::ssh, "root"));
  INFO("stderr: " << show(r.outcome.err));
  REQUIRE(r.outcome.exit_code() == 0);
  REQUIRE(r.dump.has_value());
  check_same_args(args, r.dump->args);
}
