// tests/integration/spool_files_test.cpp: what the README's "Spool layout" promises about the
// files beside the output: supervisor.log, the 64 KiB reserve, .index.jsonl as a pure cache,
// and output that --keep-children leftovers append after the final state.
#include "tests/integration/common.hpp"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace chaperone::test;

namespace {

// The supervisor logs its final lines after it wrote the final state (which is what ends the
// front end): supervisor.log is complete once the supervisor has exited.
std::string complete_supervisor_log(const TempSpool& spool, const std::string& id) {
  nlohmann::json st = spool.state(id);
  auto supervisor = st["supervisor_pid"].get<pid_t>();
  auto ticks = st["supervisor_start_ticks"].get<std::uint64_t>();
  REQUIRE(wait_until(deadline_in(20s), "the supervisor to exit", [&] {
    return !process_running(supervisor, ticks);
  }));
  return read_whole_file(spool.run_dir(id) / "supervisor.log");
}

} // namespace

TEST_CASE("supervisor.log records the start, the program's end and the final state",
          "[integration][spool-files]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "sh", "-c", "echo out; exit 3"});
  REQUIRE(r.exit_code == 3);
  std::string id = spool.only_run_id();
  nlohmann::json st = spool.state(id);
  std::string log = complete_supervisor_log(spool, id);
  INFO("supervisor.log:\n" << log);
  std::string supervisor = std::to_string(st["supervisor_pid"].get<int>());
  std::string program = std::to_string(st["pid"].get<int>());
  // Every line: UTC timestamp with microseconds, level, the supervisor's pid, the message.
  std::regex line_form("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z "
                       "(debug|info|warning|error) "
                       + supervisor + " .+");
  std::istringstream lines(log);
  std::vector<std::string> messages;
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    CHECK(std::regex_match(line, line_form));
    messages.push_back(line);
  }
  REQUIRE(!messages.empty());
  auto logged = [&](const std::string& text) {
    for (const std::string& line : messages) {
      if (line.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  CHECK(logged("started pid=" + program + " argv0=sh"));
  CHECK(logged("program pid=" + program + " ended"));
  CHECK(logged("final state exited exit_code=3 stdout=4 stderr=0"));
  // The final state is the last thing the supervisor does.
  CHECK(messages.back().find("final state exited") != std::string::npos);
}

TEST_CASE("supervisor.log says why a run failed", "[integration][spool-files]") {
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--", "no-such-program-chaperone-test"});
  CHECK(r.exit_code == 127);
  std::string id = spool.only_run_id();
  std::string supervisor = std::to_string(spool.state(id)["supervisor_pid"].get<int>());
  std::string log = complete_supervisor_log(spool, id);
  INFO("supervisor.log:\n" << log);
  CHECK(log.find(" info " + supervisor
                 + " spawn failed: exec no-such-program-chaperone-test: No "
                   "such file or directory\n")
        != std::string::npos);
  CHECK(log.find(" error " + supervisor
                 + " run failed: program not found: no-such-program-chaperone-test\n")
        != std::string::npos);
}

TEST_CASE("a run keeps a 64 KiB reserve while it lives and writes its final state into it",
          "[integration][spool-files]") {
  TempSpool spool;
  std::string gate = (spool.scratch() / "gate").string();
  std::string id =
      start_detached(spool, {"sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.01; done", gate});
  std::filesystem::path reserve = spool.run_dir(id) / ".state.reserve";
  REQUIRE(wait_for_state(spool, id, {"running"}));
  REQUIRE(std::filesystem::exists(reserve));
  // Empty, its blocks allocated past its end (so that the final state needs no cut), not a
  // sparse promise: the blocks are there when the disk fills up.
  CHECK(std::filesystem::file_size(reserve) == 0);
  struct stat st {};
  REQUIRE(::stat(reserve.c_str(), &st) == 0);
  CHECK(st.st_blocks * 512 >= 64 * 1024);
  write_whole_file(gate, "");
  CHECK(run_chaperone(spool, {"wait", id}).exit_code == 0);
  // The final state is written into the reserve, which becomes state.json (its blocks are
  // there for that write), of the state's length. The blocks past it go back once the
  // supervisor has let go of the run, keeping the mtime.
  CHECK_FALSE(std::filesystem::exists(reserve));
  CHECK(spool.state(id)["state"] == "exited");
  std::filesystem::path state_path = spool.run_dir(id) / "state.json";
  struct stat final_state {};
  REQUIRE(::stat(state_path.c_str(), &final_state) == 0);
  CHECK(final_state.st_ino == st.st_ino);
  std::string text = read_whole_file(state_path);
  CHECK(final_state.st_size == static_cast<off_t>(text.size()));
  timespec published = final_state.st_mtim;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (final_state.st_blocks * 512 >= 64 * 1024 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(::stat(state_path.c_str(), &final_state) == 0);
  }
  CHECK(final_state.st_blocks * 512 < 64 * 1024);
  CHECK(final_state.st_size == static_cast<off_t>(text.size()));
  CHECK(final_state.st_mtim.tv_sec == published.tv_sec);
  CHECK(final_state.st_mtim.tv_nsec == published.tv_nsec);
  CHECK(read_whole_file(state_path) == text);
}

TEST_CASE("a run frees no inode on the way: the states its final state replaced stay in the run "
          "dir, and gc removes them with it",
          "[integration][spool-files]") {
  // On ext4 without a journal an inode freed in the last minutes slows every inode made near
  // it (ReleaseLater): the supervisor swaps states in with RENAME_EXCHANGE and keeps the
  // ones they replaced.
  TempSpool spool;
  RunResult r = run_chaperone(spool, {"run", "--name", "short", "--", "sh", "-c", "exit 4"});
  REQUIRE(r.exit_code == 4);
  std::filesystem::path dir = spool.run_dir("short");
  REQUIRE(
      wait_until(deadline_in(30s), "the supervisor to let go", [&] { return run_lock_free(dir); }));
  nlohmann::json final_state = spool.state("short");
  CHECK(final_state["state"] == "exited");
  // Kept, and emptied once the supervisor let go (nobody was reading them): their inodes
  // stay, their blocks go back, a moment after the lock's release.
  REQUIRE(wait_until(deadline_in(30s), "the kept states to be emptied", [&] {
    return std::filesystem::file_size(dir / ".state.replaced.1") == 0
           && std::filesystem::file_size(dir / ".state.replaced.2") == 0;
  }));
  for (const char* name : {".state.replaced.1", ".state.replaced.2"}) {
    INFO(name);
    struct stat st {};
    REQUIRE(::lstat((dir / name).c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(st.st_nlink == 1);
    CHECK(st.st_size == 0);
    CHECK(st.st_blocks == 0);
  }
  CHECK_FALSE(std::filesystem::exists(dir / ".state.reserve"));
  // Readers see only state.json.
  CHECK(nlohmann::json::parse(run_chaperone(spool, {"status", "--json", "short"}).out)["state"]
        == "exited");
  RunResult gc = run_chaperone(spool, {"gc", "--older-than", "0"});
  INFO("gc: " << gc.out << gc.err);
  CHECK(gc.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("deleting .index.jsonl loses nothing: ls, status and wait answer as before",
          "[integration][spool-files]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "ok", "--", "true"}).exit_code == 0);
  REQUIRE(run_chaperone(spool, {"run", "--name", "three", "--", "sh", "-c", "exit 3"}).exit_code
          == 3);
  REQUIRE(
      run_chaperone(spool, {"run", "--name", "killed", "--", "sh", "-c", "kill -TERM $$"}).exit_code
      == 143);
  std::filesystem::path index = spool.root() / ".index.jsonl";
  REQUIRE(std::filesystem::exists(index));
  RunResult before = run_chaperone(spool, {"ls", "--json"});
  REQUIRE(before.exit_code == 0);
  std::filesystem::remove(index);

  RunResult after = run_chaperone(spool, {"ls", "--json"});
  REQUIRE(after.exit_code == 0);
  CHECK(nlohmann::json::parse(after.out) == nlohmann::json::parse(before.out));
  CHECK(nlohmann::json::parse(after.out).size() == 3);
  CHECK(run_chaperone(spool, {"wait", "three"}).exit_code == 3);
  CHECK(run_chaperone(spool, {"wait", "killed"}).exit_code == 143);
  CHECK(run_chaperone(spool, {"status", "ok"}).out.find("exited") != std::string::npos);
  // New runs after the deletion are listed too.
  REQUIRE(run_chaperone(spool, {"run", "--name", "later", "--", "true"}).exit_code == 0);
  CHECK(nlohmann::json::parse(run_chaperone(spool, {"ls", "--json"}).out).size() == 4);
}

TEST_CASE("run --keep-children: leftovers may append output after the final state",
          "[integration][spool-files][leftovers]") {
  TempSpool spool;
  std::string gate = (spool.scratch() / "gate").string();
  // The program exits at once; its background child writes only once the gate exists.
  std::string script = "(while [ ! -e \"$0\" ]; do sleep 0.01; done; echo late) & echo early";
  RunResult r = run_chaperone(spool, {"run", "--keep-children", "--", "sh", "-c", script, gate});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "early\n"); // the front end stops at the final state's recorded length
  std::string id = spool.only_run_id();
  nlohmann::json st = spool.state(id);
  CHECK(st["state"] == "exited");
  CHECK(st["output"]["stdout"] == 6);
  write_whole_file(gate, "");
  REQUIRE(wait_until(deadline_in(20s), "the leftover's late write", [&] {
    return spool.output(id, "stdout") == "early\nlate\n";
  }));
  // The state stays as recorded; readers still deliver exactly its final length.
  CHECK(spool.state(id)["output"]["stdout"] == 6);
  CHECK(run_chaperone(spool, {"attach", id}).out == "early\n");
}

TEST_CASE("run, wait and attach return only once the supervisor let go of the run, but not "
          "for an on-exit command",
          "[integration][spool-files]") {
  // A script's next command (`gc`, `rm -rf`, `run --replace`) must find a run nobody holds,
  // its final state durable in the root: no lock held, no reserve file left.
  TempSpool spool;
  for (int i = 0; i < 20; ++i) {
    std::string name = "r" + std::to_string(i);
    REQUIRE(run_chaperone(spool, {"run", "--name", name, "--", "true"}).exit_code == 0);
    CHECK(run_lock_free(spool.run_dir(name)));
    CHECK_FALSE(std::filesystem::exists(spool.run_dir(name) / ".state.reserve"));
  }
  for (int i = 0; i < 10; ++i) {
    std::string name = "w" + std::to_string(i);
    REQUIRE(
        run_chaperone(spool, {"run", "-d", "--name", name, "--", "sh", "-c", "exit 3"}).exit_code
        == 0);
    REQUIRE(run_chaperone(spool, {"wait", name}).exit_code == 3);
    CHECK(run_lock_free(spool.run_dir(name)));
    REQUIRE(run_chaperone(spool, {"attach", name}).exit_code == 3);
  }
  RunResult gc = run_chaperone(spool, {"gc", "--older-than", "0"});
  INFO("gc: " << gc.out << gc.err);
  CHECK(gc.exit_code == 0);
  CHECK(spool.run_ids().empty()); // none was busy
  // An --on-exit command holds the run while it runs; `run` does not wait for it.
  std::string gate = (spool.scratch() / "on-exit-gate").string();
  REQUIRE(run_chaperone(spool,
                        {"run",
                         "--name",
                         "hook",
                         "--on-exit",
                         "while [ ! -e '" + gate + "' ]; do sleep 0.01; done",
                         "--",
                         "true"})
              .exit_code
          == 0);
  CHECK_FALSE(run_lock_free(spool.run_dir("hook")));
  write_whole_file(gate, "");
  REQUIRE(wait_until(deadline_in(30s), "the on-exit command to end", [&] {
    return run_lock_free(spool.run_dir("hook"));
  }));
}

TEST_CASE("a supervisor that cannot be exec'ed leaves a failed run that says why",
          "[integration][spool-files]") {
  // `run` does not wait for the supervisor's exec (it would cost every launch the loading of
  // the image); an exec that fails after the path was checked must still be told, in the
  // run, with the syscall, the path and the reason. Here: a front end beside a
  // "chaperone-supervisor" that is executable but no program (ENOEXEC).
  TempSpool spool;
  std::filesystem::path bin = spool.scratch() / "bin";
  std::filesystem::create_directories(bin);
  std::filesystem::path front_end = bin / "chaperone";
  std::error_code link_error;
  std::filesystem::create_hard_link(chaperone_path(), front_end, link_error);
  if (link_error) {
    std::filesystem::copy_file(chaperone_path(), front_end);
  }
  std::filesystem::path supervisor = bin / "chaperone-supervisor";
  write_whole_file(supervisor, "not a program\n");
  std::filesystem::permissions(supervisor, std::filesystem::perms::owner_all);
  RunOptions through_copy;
  through_copy.wrapper = {"sh", "-c", "shift; exec \"$0\" \"$@\"", front_end.string()};
  const std::string reason = "exec " + supervisor.string() + ": Exec format error";

  RunResult attached =
      run_chaperone(spool, {"run", "--name", "a", "--", "echo", "hi"}, through_copy);
  INFO("run: " << attached.out << attached.err);
  CHECK(attached.exit_code == 125);
  CHECK(attached.out.empty());
  REQUIRE(attached.err_lines().size() == 1);
  CHECK(attached.err_lines()[0] == "chaperone: run a failed: " + reason);

  RunResult detached =
      run_chaperone(spool, {"run", "-d", "--name", "d", "--", "echo", "hi"}, through_copy);
  CHECK(detached.exit_code == 0);
  CHECK(detached.out == "d\n");
  RunResult waited = run_chaperone(spool, {"wait", "d"});
  INFO("wait: " << waited.err);
  CHECK(waited.exit_code == 125);
  for (const char* id : {"a", "d"}) {
    nlohmann::json st = spool.state(id);
    CHECK(st["state"] == "failed");
    CHECK(st["exit_code"] == 125);
    CHECK(st["error"] == reason);
    CHECK(run_lock_free(spool.run_dir(id)));
    CHECK(std::filesystem::file_size(spool.run_dir(id) / "stdout") == 0);
  }
  // Nothing hidden left behind: only the two runs (and the index) in the root.
  CHECK(spool.listing() == std::vector<std::string>{".index.jsonl", "a", "d"});
}
