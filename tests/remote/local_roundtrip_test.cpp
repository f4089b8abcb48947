// tests/remote/local_roundtrip_test.cpp: local and sudo modes run for real through /bin/sh
// and sudo; argv, cwd and env arrive byte for byte; a failed cd never runs the program.
#include "tests/remote/harness.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace chaperone;
using namespace chaperone::test;
using cmdbuild::TargetMode;

namespace {

constexpr int k_invocations = 3;

// Runs k_invocations random batches through `target`; returns the number of args compared.
std::size_t roundtrip_batches(TestSshd& sshd,
                              const cmdbuild::Target& target,
                              ArgvGenerator& gen,
                              bool with_wrapper) {
  std::size_t compared = 0;
  for (int i = 0; i < k_invocations; ++i) {
    cmdbuild::Program program;
    Argv args = gen.batch(30000, 2000);
    program.argv = {sshd.argv_dump()};
    program.argv.insert(program.argv.end(), args.begin(), args.end());
    if (with_wrapper) {
      program.env = {{"CHAP_UNUSED", "x"}}; // forces the sh wrapper
    }
    Run r = run_program(program, target);
    INFO("stderr: " << show(r.outcome.err));
    REQUIRE(r.outcome.exit_code() == 0);
    REQUIRE(r.dump.has_value());
    check_same_args(args, r.dump->args);
    CHECK(r.err.empty());
    compared += args.size();
  }
  return compared;
}

} // namespace

TEST_CASE("local and sudo modes deliver random argvs byte for byte", "[sudo]") {
  std::uint64_t seed = test_seed();
  INFO("CHAPERONE_TEST_SEED=" << seed);
  TestSshd sshd;
  ArgvGenerator gen(seed);
  std::size_t local_bare = roundtrip_batches(sshd, sshd.target(TargetMode::local, ""), gen, false);
  std::size_t local_sh = roundtrip_batches(sshd, sshd.target(TargetMode::local, ""), gen, true);
  std::size_t sudo_bare = roundtrip_batches(sshd, sshd.target(TargetMode::sudo, ""), gen, false);
  std::size_t sudo_sh = roundtrip_batches(sshd, sshd.target(TargetMode::sudo, ""), gen, true);
  WARN("args compared: local " << local_bare << " direct + " << local_sh << " via /bin/sh; sudo "
                               << sudo_bare << " direct + " << sudo_sh << " via /bin/sh");
}

TEST_CASE("local and sudo modes apply odd cwd, env values and umask", "[sudo]") {
  std::uint64_t seed = test_seed();
  INFO("CHAPERONE_TEST_SEED=" << seed);
  TestSshd sshd;
  ArgvGenerator gen(seed);
  std::string cwd = sshd.dir() + "/-od d'\"$`\\*?~\n\t\xff\xc3\xa9 x";
  REQUIRE(::mkdir(cwd.c_str(), 0755) == 0);
  for (TargetMode mode : {TargetMode::local, TargetMode::sudo}) {
    for (int i = 0; i < 20; ++i) {
      cmdbuild::Program program;
      program.argv = {sshd.argv_dump(), "x"};
      program.cwd = cwd;
      program.umask = 027;
      std::vector<std::string> names{"CHAP_E1", "CHAP_E2", "CHAP_E3", "PATH"};
      program.env = {{"ARGV_DUMP_ENV", "CHAP_E1,CHAP_E2,CHAP_E3,CHAP_UNSET"}};
      for (int k = 1; k <= 3; ++k) {
        program.env.emplace_back("CHAP_E" + std::to_string(k), gen.value(60));
      }
      Run r = run_program(program, sshd.target(mode, ""));
      INFO("mode " << cmdbuild::to_string(mode) << " stderr: " << show(r.outcome.err));
      REQUIRE(r.outcome.exit_code() == 0);
      REQUIRE(r.dump.has_value());
      CHECK(r.dump->cwd == cwd);
      REQUIRE(r.dump->env.size() == 4);
      for (int k = 0; k < 3; ++k) {
        CHECK(r.dump->env[k].first == "CHAP_E" + std::to_string(k + 1));
        CHECK(r.dump->env[k].second == program.env[k + 1].second);
      }
      CHECK_FALSE(r.dump->env[3].second.has_value());
    }
    cmdbuild::Program umask_probe;
    umask_probe.argv = {"/bin/sh", "-c", "umask"};
    umask_probe.umask = 027;
    Run r = run_program(umask_probe, sshd.target(mode, ""));
    CHECK(r.outcome.out == "0027\n");
  }
}

TEST_CASE("a missing cwd in local and sudo modes exits 125 without running the program", "[sudo]") {
  TestSshd sshd;
  for (TargetMode mode : {TargetMode::local, TargetMode::sudo}) {
    cmdbuild::Program program;
    program.argv = {"/bin/sh", "-c", "echo ran"};
    program.cwd = "/nonexistent dir/x";
    Run r = run_program(program, sshd.target(mode, ""));
    INFO("mode " << cmdbuild::to_string(mode) << " stderr: " << show(r.outcome.err));
    CHECK(r.outcome.exit_code() == 125);
    CHECK(r.outcome.out.empty());
    CHECK(r.err.empty());
    CHECK(r.filter.cwd_error() == "No such file or directory");
  }
  cmdbuild::Program not_dir;
  not_dir.argv = {"true"};
  not_dir.cwd = "/etc/passwd";
  Run r = run_program(not_dir, sshd.target(TargetMode::local, ""));
  CHECK(r.outcome.exit_code() == 125);
  CHECK(r.filter.cwd_error() == "Not a directory");
}

TEST_CASE("local modes pass the program's exit code and signal straight through", "[sudo]") {
  TestSshd sshd;
  for (TargetMode mode : {TargetMode::local, TargetMode::sudo}) {
    for (int code : {0, 1, 42, 255}) {
      cmdbuild::Program program;
      program.argv = {"/bin/sh", "-c", "exit " + std::to_string(code)};
      program.cwd = "/";
      Run r = run_program(program, sshd.target(mode, ""));
      CHECK(r.outcome.exit_code() == code);
    }
  }
  cmdbuild::Program program;
  program.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  program.cwd = "/";
  Run r = run_program(program, sshd.target(TargetMode::local, ""));
  CHECK(r.outcome.term_signal() == 15);
}
