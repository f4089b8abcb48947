// tests/remote/ssh_status_test.cpp: the far side's status channel through the real sshd:
// exit codes and signals, cwd failure, clean stdout and stderr, and the remote group kill.
#include "tests/remote/harness.hpp"
#include "tests/support/process_info.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace chaperone;
using namespace chaperone::test;
using cmdbuild::TargetMode;

namespace {

const std::vector<TargetMode> k_ssh_modes{
    TargetMode::ssh, TargetMode::ssh_then_sudo, TargetMode::sudo_then_ssh};

cmdbuild::Program shell(const std::string& script) {
  cmdbuild::Program p;
  p.argv = {"/bin/sh", "-c", script};
  return p;
}

// The live processes of group `pgid`, one /proc stat line each. Zombies do not count: a
// grandchild orphaned by the kill waits for init, which reaps up to ~2 s late here, and
// kill(2) still finds it.
std::string live_in_group(pid_t pgid) {
  std::string live;
  for (const chaperone::test::ProcessSnapshot& p : chaperone::test::list_processes()) {
    if (p.pgrp == pgid && p.live()) {
      live += p.stat + "\n";
    }
  }
  return live;
}

// live_in_group() once it is empty or the time is up.
std::string live_in_group_after(pid_t pgid, Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  std::string live = live_in_group(pgid);
  while (!live.empty() && Clock::now() < deadline) {
    ::usleep(10000);
    live = live_in_group(pgid);
  }
  return live;
}

} // namespace

TEST_CASE("exit codes and signals come back through the marker, told apart", "[ssh][sudo]") {
  TestSshd sshd;
  for (TargetMode mode : k_ssh_modes) {
    for (const std::string& user : sshd.users()) {
      cmdbuild::Target target = sshd.target(mode, user);
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user);
      for (int code : {0, 1, 42, 130, 255}) {
        Run r = run_program(shell("exit " + std::to_string(code)), target);
        INFO("exit " << code << ", stderr " << show(r.outcome.err));
        CHECK(r.filter.exit_code() == code);
        CHECK_FALSE(r.filter.signal().has_value());
        CHECK(r.outcome.exit_code() == code);
        CHECK(r.err.empty());
      }
      for (int sig : {SIGTERM, SIGKILL, SIGINT}) {
        Run r = run_program(shell("kill -" + std::to_string(sig) + " $$"), target);
        INFO("signal " << sig << ", stderr " << show(r.outcome.err));
        CHECK(r.filter.signal() == sig);
        CHECK_FALSE(r.filter.exit_code().has_value());
        CHECK(r.outcome.exit_code() == 128 + sig);
        CHECK(r.err.empty());
      }
    }
  }
}

TEST_CASE("a far-side cd failure exits 125 with its reason and never runs the program",
          "[ssh][sudo]") {
  TestSshd sshd;
  for (TargetMode mode : k_ssh_modes) {
    for (const std::string& user : sshd.users()) {
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user);
      cmdbuild::Program p = shell("echo ran; echo ran >&2");
      p.cwd = "/nonexistent dir/'x'";
      Run r = run_program(p, sshd.target(mode, user));
      INFO("stderr " << show(r.outcome.err));
      CHECK(r.outcome.exit_code() == 125);
      CHECK(r.filter.cwd_error() == "No such file or directory");
      CHECK_FALSE(r.filter.pid().has_value());
      CHECK_FALSE(r.filter.finished());
      CHECK(r.outcome.out.empty());
      CHECK(r.err.empty());
    }
  }
  cmdbuild::Program p = shell("echo ran");
  p.cwd = sshd.dir() + "/sshd_config";
  Run r = run_program(p, sshd.target(TargetMode::ssh, "chapsh"));
  CHECK(r.outcome.exit_code() == 125);
  CHECK(r.filter.cwd_error() == "Not a directory");
  p.cwd = "/root";
  r = run_program(p, sshd.target(TargetMode::ssh, "chapsh"));
  CHECK(r.outcome.exit_code() == 125);
  CHECK(r.filter.cwd_error() == "Permission denied");
}

TEST_CASE("a program that cannot be found exits 127 with an exec event", "[ssh]") {
  TestSshd sshd;
  cmdbuild::Program p;
  p.argv = {"chaperone-no-such-program"};
  Run r = run_program(p, sshd.target(TargetMode::ssh, "chapfish"));
  CHECK(r.outcome.exit_code() == 127);
  CHECK(r.filter.exit_code() == 127);
  CHECK(r.filter.exec_error() == "No such file or directory");
  CHECK(r.err.empty());
}

TEST_CASE("stdout carries nothing of ours", "[ssh][sudo]") {
  TestSshd sshd;
  for (TargetMode mode : k_ssh_modes) {
    for (const std::string& user : sshd.users()) {
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user);
      Run quiet = run_program(shell("exit 0"), sshd.target(mode, user));
      CHECK(quiet.outcome.out.empty());
      Run r = run_program(shell("printf 'out\\n\\000x'; cat"), sshd.target(mode, user), "in\n");
      CHECK(r.outcome.out == std::string("out\n\0xin\n", 9));
      CHECK(r.filter.exit_code() == 0);
    }
  }
}

TEST_CASE("stderr marker lines are stripped even when the program's stderr ends without "
          "newline",
          "[ssh][sudo]") {
  TestSshd sshd;
  for (TargetMode mode : k_ssh_modes) {
    for (const std::string& user : sshd.users()) {
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user);
      Run r = run_program(shell("printf 'line\\npartial' >&2; exit 3"), sshd.target(mode, user));
      INFO("raw stderr " << show(r.outcome.err));
      CHECK(r.err == "line\npartial");
      CHECK(r.filter.exit_code() == 3);
      Run blank = run_program(shell("printf '\\n\\n' >&2"), sshd.target(mode, user));
      CHECK(blank.err == "\n\n");
    }
  }
}

TEST_CASE("a remote kill reaches the whole far-side group and leaves no process", "[ssh][sudo]") {
  TestSshd sshd;
  for (TargetMode mode : k_ssh_modes) {
    for (const std::string& user : {std::string("chapsh"), std::string("chapfish")}) {
      INFO("mode " << cmdbuild::to_string(mode) << ", login " << user);
      cmdbuild::Target target = sshd.target(mode, user);
      std::string nonce = random_nonce();
      cmdbuild::MarkerFilter filter(nonce, cmdbuild::before_first_marker(mode));
      // A background grandchild too: the whole group must go, not just the leader.
      cmdbuild::Command command =
          cmdbuild::build_command(shell("sleep 300 & sleep 300; wait"), target, nonce);
      Child child(command.argv, "", &filter);
      child.read_until([&] { return filter.pgid().has_value(); }, std::chrono::seconds(30));
      REQUIRE(filter.pgid().has_value());
      pid_t pgid = *filter.pgid();
      CHECK(live_in_group(pgid) != ""); // the far side is this machine
      Outcome killed = run(cmdbuild::build_remote_kill(target, pgid, SIGTERM, nonce));
      INFO("kill stderr " << show(killed.err));
      CHECK(killed.exit_code() == 0);
      Outcome o = child.finish(std::chrono::seconds(30));
      CHECK(filter.signal() == SIGTERM);
      CHECK(o.exit_code() == 128 + SIGTERM);
      CHECK(child.filtered_err().empty());
      // The wrapper has reaped the leader; the background sleep was in the same group.
      // A signalled grandchild may still be on its way out (state R): wait, with a deadline.
      CHECK(live_in_group_after(pgid, std::chrono::seconds(5)) == "");
      // The run is over: the nonce check refuses to signal a group that is no longer ours.
      Outcome stale = run(cmdbuild::build_remote_kill(target, pgid, SIGTERM, nonce));
      CHECK(stale.exit_code() == 2);
    }
  }
}

TEST_CASE("a local sudo kill reaches a program running as another user", "[sudo]") {
  TestSshd sshd;
  cmdbuild::Target target = sshd.target(TargetMode::sudo, "");
  cmdbuild::Program p = shell("exec sleep 300");
  cmdbuild::Command command = cmdbuild::build_command(p, target, "");
  Child child(command.argv);
  // sudo without a tty keeps the program in our child's group; find the sleep through it.
  Outcome ps;
  for (int i = 0; i < 200; ++i) {
    ps = run({"pgrep", "-u", sshd.sudo_target(), "-g", std::to_string(child.pid()), "sleep"});
    if (ps.exit_code() == 0) {
      break;
    }
    ::usleep(20000);
  }
  REQUIRE(ps.exit_code() == 0);
  Outcome killed = run(cmdbuild::build_remote_kill(target, child.pid(), SIGTERM));
  CHECK(killed.exit_code() == 0);
  Outcome o = child.finish(std::chrono::seconds(30));
  // sudo re-raises its command's fatal signal on itself.
  CHECK((o.term_signal() == SIGTERM || o.exit_code() == 128 + SIGTERM));
}

TEST_CASE("a connection that fails leaves no marker: ssh's 255 is not the program's", "[ssh]") {
  TestSshd sshd;
  cmdbuild::Target target = sshd.target(TargetMode::ssh, "chapsh");
  target.control_path.clear();
  target.port = 1; // nothing listens there
  Run refused = run_program(shell("exit 255"), target);
  CHECK(refused.outcome.exit_code() == 255);
  CHECK_FALSE(refused.filter.finished());
  CHECK_FALSE(refused.filter.pid().has_value());
  Run own = run_program(shell("exit 255"), sshd.target(TargetMode::ssh, "chapsh"));
  CHECK(own.outcome.exit_code() == 255);
  CHECK(own.filter.exit_code() == 255);
}

TEST_CASE("a far-side sudo refusal leaves no marker and is not the program's exit code",
          "[ssh][sudo]") {
  TestSshd sshd;
  cmdbuild::Target target = sshd.target(TargetMode::ssh_then_sudo, "chapbash");
  target.sudo_user = "nobody"; // not in the test sudoers rule: sudo -n refuses
  Run r = run_program(shell("exit 0"), target);
  INFO("stderr " << show(r.outcome.err));
  CHECK(r.outcome.exit_code() == 1);
  CHECK_FALSE(r.filter.finished());
  CHECK_FALSE(r.filter.pid().has_value());
  CHECK(r.err.find("sudo: ") != std::string::npos);
}
