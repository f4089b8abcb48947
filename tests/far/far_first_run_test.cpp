// tests/far/far_first_run_test.cpp: a far host that has never seen chaperone gets it shipped
// (checked, cached per user and version), one first run or twenty at once; what is refused
// is refused before anything runs.
#include "tests/far/far_fixture.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

using namespace chaperone::test;

namespace {

std::vector<std::string> cache_entries(const std::string& user) {
  std::vector<std::string> names;
  for (const auto& version : std::filesystem::directory_iterator(far_cache(user))) {
    for (const auto& file : std::filesystem::directory_iterator(version.path())) {
      names.push_back(version.path().filename().string() + "/" + file.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST_CASE("far: a first run on a host without chaperone ships it and mirrors the run byte for "
          "byte with the far exit code",
          "[ssh]") {
  const std::string user = "chapfar1";
  fresh_far_user(user);
  REQUIRE_FALSE(std::filesystem::exists(far_cache(user)));
  TempSpool spool;
  FarCleanup cleanup;
  // Not in the far PATH either: sshd's default PATH has no chaperone.
  CmdResult which =
      run_cmd({"sh", "-c", "PATH=/usr/local/bin:/usr/bin:/bin; command -v chaperone"});
  REQUIRE(which.exit_code != 0);

  RunResult r = run_chaperone(
      spool,
      run_args(far_options(user),
               {"sh", "-c", "printf 'one\\ntwo\\0three'; printf 'e\\377rr\\n' >&2; exit 7"}));
  std::string id = spool.only_run_id();
  nlohmann::json state = spool.state(id);
  cleanup.add(user, state["far"]["run_id"]);
  INFO("state: " << state.dump() << "\nstderr: " << r.err);
  CHECK(r.exit_code == 7);
  CHECK(r.out == std::string("one\ntwo\0three", 13));
  CHECK(r.err.find(std::string("e\377rr\n")) != std::string::npos);
  CHECK(state["state"] == "exited");
  CHECK(state["return_code"] == 7);
  CHECK(state["output"]["stdout"] == 13);
  CHECK(spool.output(id, "stderr") == "e\377rr\n");
  CHECK(state["far"]["shipped"] == true);
  CHECK(state["far"]["user"] == user);
  CHECK(state["far"]["host"] == "127.0.0.1");
  CHECK(state["far"]["version"] == "0.1.0");
  CHECK(state["rusage"].is_object());
  // The far run is a complete run in the far user's own spool.
  std::string far_dir = far_spool(user) + "/" + state["far"]["run_id"].get<std::string>();
  CHECK(read_whole_file(far_dir + "/stdout") == std::string("one\ntwo\0three", 13));
  CHECK(owner_of_path(far_dir) == uid_of(user));
  // The cache: ours alone, both binaries, nothing half-written left.
  struct stat st {};
  REQUIRE(::stat(far_cache(user).c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  CHECK(st.st_uid == uid_of(user));
  std::vector<std::string> entries = cache_entries(user);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].find("/.lock") != std::string::npos);
  CHECK(entries[1].find("/chaperone") != std::string::npos);
  CHECK(entries[2].find("/chaperone-supervisor") != std::string::npos);

  // The second run finds it in the cache and ships nothing.
  RunResult again = run_chaperone(spool, run_args(far_options(user), {"echo", "again"}));
  CHECK(again.exit_code == 0);
  CHECK(again.out == "again\n");
  for (const std::string& other : spool.run_ids()) {
    if (other != id) {
      nlohmann::json second = spool.state(other);
      cleanup.add(user, second["far"]["run_id"]);
      CHECK(second["far"]["shipped"] == false);
    }
  }

  // gc removes the far runs with the local ones, now that their outcomes are home.
  std::vector<std::string> far_dirs;
  for (const std::string& each : spool.run_ids()) {
    far_dirs.push_back(far_spool(user) + "/"
                       + spool.state(each)["far"]["run_id"].get<std::string>());
    CHECK(std::filesystem::exists(far_dirs.back()));
  }
  // A supervisor holds its run for the moment it takes to exit after the final state (gc
  // then keeps the run as busy): wait for both to be gone.
  for (const std::string& each : spool.run_ids()) {
    pid_t supervisor = spool.state(each)["supervisor_pid"].get<pid_t>();
    REQUIRE(wait_until(deadline_in(20s), "the local supervisor to exit", [&] {
      return !process_running(supervisor);
    }));
  }
  RunResult gc = run_chaperone(spool, {"gc"});
  INFO("gc: " << gc.out << gc.err);
  CHECK(gc.exit_code == 0);
  CHECK(spool.run_ids().empty());
  for (const std::string& dir : far_dirs) {
    CHECK_FALSE(std::filesystem::exists(dir));
  }
}

TEST_CASE("far: 20 concurrent first runs on one host all run, and the cache holds one clean "
          "copy",
          "[ssh]") {
  const std::string user = "chapfar2";
  fresh_far_user(user);
  TempSpool spool;
  FarCleanup cleanup;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(
        start_detached(spool,
                       far_options(user),
                       {"sh", "-c", "echo run $1; exit $(($1 % 5))", "sh", std::to_string(i)}));
  }
  for (int i = 0; i < 20; ++i) {
    nlohmann::json state = wait_final_state(spool, ids[i], 180s);
    INFO("run " << i << ": " << state.dump());
    cleanup.add(user, state["far"]["run_id"]);
    CHECK(state["state"] == "exited");
    CHECK(state["exit_code"] == i % 5);
    CHECK(spool.output(ids[i], "stdout") == "run " + std::to_string(i) + "\n");
  }
  std::vector<std::string> entries = cache_entries(user);
  INFO("cache: " << entries.size() << " entries");
  REQUIRE(entries.size() == 3); // .lock, chaperone, chaperone-supervisor: no temp dirs left
}

TEST_CASE("far: refused before anything runs: no host, --stdin, a cache others can write, an "
          "unwritable home, another architecture",
          "[ssh]") {
  TempSpool spool;
  RunResult no_host = run_chaperone(spool, {"run", "--hold", "far", "--", "true"});
  CHECK(no_host.exit_code == 125);
  CHECK(no_host.err == "chaperone: --hold far needs a far host (--host, an ssh mode)\n");
  CHECK(spool.listing().empty());
  const std::string user = "chapfar5";
  fresh_far_user(user);
  Args with_stdin = far_options(user);
  with_stdin.insert(with_stdin.end(), {"--stdin", "/etc/hostname"});
  RunResult stdin_refused = run_chaperone(spool, run_args(with_stdin, {"true"}));
  CHECK(stdin_refused.exit_code == 125);
  CHECK(stdin_refused.err.find("--stdin cannot be used with --hold far") != std::string::npos);
  CHECK(spool.listing().empty());

  std::string marker = spool.scratch().string() + "/ran";
  REQUIRE(::chmod(spool.scratch().c_str(), 0777) == 0);
  Args touch{"touch", marker};
  // A cache dir group/world writable: refused, nothing runs.
  std::filesystem::create_directories(far_cache(user));
  REQUIRE(run_cmd({"chown", "-R", user + ":", home_of(user) + "/.cache"}).exit_code == 0);
  REQUIRE(::chmod(far_cache(user).c_str(), 0777) == 0);
  RunResult open_cache = run_chaperone(spool, run_args(far_options(user), touch));
  INFO(open_cache.err);
  CHECK(open_cache.exit_code == 125);
  CHECK(open_cache.err.find("is not yours alone") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));
  std::filesystem::remove_all(far_cache(user));

  // A home the user cannot write.
  REQUIRE(::chown(home_of(user).c_str(), 0, 0) == 0);
  RunResult no_home = run_chaperone(spool, run_args(far_options(user), touch));
  REQUIRE(::chown(home_of(user).c_str(), uid_of(user), uid_of(user)) == 0);
  INFO(no_home.err);
  CHECK(no_home.exit_code == 125);
  CHECK(no_home.err.find("is not writable") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));

  // Another architecture: the far PATH (bash reads ~/.bashrc for ssh commands) has a uname
  // that says aarch64.
  const std::string arm = "chapfar6";
  fresh_far_user(arm, "/bin/bash");
  std::string fake = home_of(arm) + "/fakebin";
  std::filesystem::create_directories(fake);
  write_whole_file(fake + "/uname",
                   "#!/bin/sh\ncase $1 in -m) echo aarch64 ;; *) exec /bin/uname \"$@\" ;; esac\n",
                   0755);
  write_whole_file(home_of(arm) + "/.bashrc", "PATH=" + fake + ":$PATH\n", 0644);
  RunResult other_arch = run_chaperone(spool, run_args(far_options(arm), touch));
  std::filesystem::remove(home_of(arm) + "/.bashrc");
  INFO(other_arch.err);
  CHECK(other_arch.exit_code == 125);
  CHECK(other_arch.err.find("is Linux aarch64") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK_FALSE(std::filesystem::exists(far_cache(arm)));
}
