// tests/integration/defects_test.cpp: regression tests for the defects of issue 9, each named
// for the defect and checked against the binary that had it.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

using namespace chaperone::test;

namespace {

// Runs `args` and checks a refusal: 125, no stdout, one "chaperone: ..." line holding
// `needle`, and the spool listing unchanged (nothing created).
void check_refused(const TempSpool& spool,
                   const std::vector<std::string>& args,
                   const std::string& needle) {
  std::vector<std::string> before = spool.listing();
  RunResult r = run_chaperone(spool, args, within(20s));
  std::string shown;
  for (const std::string& arg : args) {
    shown += " [" + arg + "]";
  }
  INFO("chaperone" << shown << "\nstderr: " << r.err);
  CHECK(r.exit_code == 125);
  CHECK(r.out.empty());
  CHECK(r.err_lines().size() == 1);
  CHECK(r.err.rfind("chaperone: ", 0) == 0);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(spool.listing() == before);
}

} // namespace

TEST_CASE("an empty option value is refused, not taken for an option not given",
          "[integration][regression][empty-value]") {
  // `--host ''` used to run locally, `--sudo-user ''` without sudo, `--mode ''` as if not
  // given: a script with an unset variable ran on the wrong machine or as the wrong user.
  TempSpool spool;
  const std::vector<std::string> launch_options{"--host",
                                                "--sudo-user",
                                                "--mode",
                                                "--login",
                                                "--port",
                                                "--identity",
                                                "-i",
                                                "--control-path",
                                                "--ssh-option",
                                                "-o",
                                                "--name",
                                                "--cwd",
                                                "--stdin",
                                                "--timeout",
                                                "--kill-after",
                                                "--max-output",
                                                "--max-output-action",
                                                "--env"};
  for (const char* command : {"run", "cmd"}) {
    for (const std::string& option : launch_options) {
      std::string name = option == "-i" ? "--identity" : option == "-o" ? "--ssh-option" : option;
      check_refused(spool, {command, option, "", "--", "true"}, name + ": empty value");
      // The same through --opt= (which CLI11 reads as a missing value).
      if (option.rfind("--", 0) == 0) {
        check_refused(spool, {command, option + "=", "--", "true"}, name);
      }
    }
    check_refused(spool, {command, "--host", "", "--sudo-user", "root", "--", "true"}, "--host");
    check_refused(spool, {command, "--env", "A=1", "--env", "", "--", "true"}, "--env");
  }
  check_refused(spool, {"run", "-d", "--host", "", "--", "true"}, "--host: empty value");
  check_refused(spool, {"kill", "-s", "", "some-run"}, "--signal: empty value");
  check_refused(spool, {"kill", "--grace", "", "some-run"}, "--grace: empty value");
  check_refused(spool, {"tail", "--stream", "", "some-run"}, "--stream: empty value");
  check_refused(spool, {"tail", "-n", "", "some-run"}, "--lines: empty value");
  check_refused(spool, {"attach", "--from-offset", "", "some-run"}, "--from-offset: empty value");
  check_refused(spool, {"attach", "--tail", "", "some-run"}, "--tail: empty value");
  CHECK(spool.run_ids().empty());
}

TEST_CASE("attach --from-offset takes a STDOUT:STDERR cursor and refuses one bare number",
          "[integration][regression][from-offset]") {
  // One number used to be applied to both streams: a user passing the stdout count lost the
  // rest of stderr without a word.
  TempSpool spool;
  RunResult first =
      run_chaperone(spool, {"run", "--", writer(), "both", "11", "100000", "12", "50000"});
  REQUIRE(first.exit_code == 0);
  std::string id = spool.only_run_id();

  check_refused(spool, {"attach", "--from-offset", "40000", id}, "STDOUT:STDERR");
  check_refused(spool, {"attach", "--from", "40000", id}, "STDOUT:STDERR");
  check_refused(spool, {"attach", "--from-offset", "4:x", id}, "--from-offset");
  check_refused(spool, {"attach", "--from-offset=-1:0", id}, "--from-offset");
  check_refused(spool, {"attach", "--from-offset", "1:2:3", id}, "--from-offset");
  check_refused(spool, {"attach", "--from-offset", "1:2", "--stdout-offset", "3", id}, "excludes");

  RunResult cursor = run_chaperone(spool, {"attach", "--from-offset", "40000:20", id});
  CHECK(cursor.exit_code == 0);
  CHECK(cursor.out == pattern_bytes(11, 40000, 60000));
  CHECK(cursor.err == pattern_bytes(12, 20, 49980));

  RunResult start = run_chaperone(spool, {"attach", "--from", "0", id});
  CHECK(start.exit_code == 0);
  CHECK(start.out == pattern_bytes(11, 0, 100000));
  CHECK(start.err == pattern_bytes(12, 0, 50000));

  // status prints where the output ends now; resuming there gives nothing more.
  RunResult text = run_chaperone(spool, {"status", id});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("\ncursor     100000:50000\n") != std::string::npos);
  RunResult json = run_chaperone(spool, {"status", "--json", id});
  REQUIRE(json.exit_code == 0);
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  REQUIRE(parsed.contains("cursor"));
  CHECK(parsed["cursor"] == "100000:50000");
  RunResult end = run_chaperone(spool, {"attach", "--from-offset", parsed["cursor"], id});
  CHECK(end.exit_code == 0);
  CHECK(end.out.empty());
  CHECK(end.err.empty());
}

TEST_CASE("status reports the live output sizes of a run that is still going",
          "[integration][regression][status]") {
  // status used to say "stdout 0 bytes" while the file already held 7,680 bytes.
  TempSpool spool;
  std::string id =
      start_detached(spool, {"sh", "-c", "head -c 7680 /dev/zero; printf abc >&2; exec sleep 600"});
  REQUIRE(wait_until(deadline_in(20s), "7680 + 3 bytes of output", [&] {
    return spool.output_size(id, "stdout") == 7680 && spool.output_size(id, "stderr") == 3;
  }));
  RunResult json = run_chaperone(spool, {"status", "--json", id});
  REQUIRE(json.exit_code == 0);
  nlohmann::json state = nlohmann::json::parse(json.out);
  CHECK(state["state"] == "running");
  CHECK(state["output"]["stdout"] == 7680);
  CHECK(state["output"]["stderr"] == 3);
  CHECK(state["cursor"] == "7680:3");
  RunResult text = run_chaperone(spool, {"status", id});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("\nstdout     7680 bytes\n") != std::string::npos);
  CHECK(text.out.find("\nstderr     3 bytes\n") != std::string::npos);
  CHECK(text.out.find("\ncursor     7680:3\n") != std::string::npos);

  REQUIRE(run_chaperone(spool, {"kill", "-s", "KILL", id}).exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", id}, within(20s)).exit_code == 137);
  // Final: the recorded final lengths.
  nlohmann::json final_state =
      nlohmann::json::parse(run_chaperone(spool, {"status", "--json", id}).out);
  CHECK(final_state["state"] == "signaled");
  CHECK(final_state["output"]["stdout"] == 7680);
  CHECK(final_state["cursor"] == "7680:3");
}

namespace {

// Starts `sleep 600` detached and SIGKILLs its supervisor (checked by start time to be the
// one this test started), so that the run is left without its record keeper.
std::string start_and_kill_supervisor(const TempSpool& spool) {
  std::string id = start_detached(spool, {"sleep", "600"});
  REQUIRE(wait_for_state(spool, id, {"running"}));
  nlohmann::json state = spool.state(id);
  auto supervisor = state.at("supervisor_pid").get<pid_t>();
  auto ticks = state.at("supervisor_start_ticks").get<std::uint64_t>();
  REQUIRE(process_start_ticks(supervisor) == ticks);
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  REQUIRE(wait_until(deadline_in(20s), "the supervisor to die", [&] {
    return !process_running(supervisor, ticks);
  }));
  return id;
}

} // namespace

TEST_CASE("wait, attach and tail -f on a lost run say which run is lost and since when",
          "[integration][regression][lost]") {
  // `wait` on a lost run used to exit 125 without a word.
  TempSpool spool;
  std::string id = start_and_kill_supervisor(spool);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"wait", id}, {"attach", id}, {"tail", "-f", id}}) {
    RunResult r = run_chaperone(spool, args, within(30s));
    INFO(args.front() << " stderr: " << r.err);
    CHECK(r.exit_code == 125);
    REQUIRE(r.err_lines().size() == 1);
    CHECK(r.err.rfind("chaperone: run " + id + " lost since ", 0) == 0);
    CHECK(r.err.find("supervisor") != std::string::npos);
    CHECK(r.err.find("died") != std::string::npos);
  }
  CHECK(spool.state(id)["state"] == "lost");
}

TEST_CASE("wait on a failed run says why it failed", "[integration][regression][lost]") {
  // The same silent 125 for a run that failed (here: stopped at its output limit).
  TempSpool spool;
  std::string id = start_detached(spool,
                                  {"sh", "-c", "echo hello; exec sleep 600"},
                                  {"--max-output", "1", "--max-output-action", "stop"});
  RunResult r = run_chaperone(spool, {"wait", id}, within(30s));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 125);
  REQUIRE(r.err_lines().size() == 1);
  CHECK(r.err.rfind("chaperone: run " + id + " failed: ", 0) == 0);
  CHECK(r.err.find("output limit") != std::string::npos);
  // A program's own non-zero exit is its own: no line.
  std::string three = start_detached(spool, {"sh", "-c", "exit 3"});
  RunResult w = run_chaperone(spool, {"wait", three}, within(30s));
  CHECK(w.exit_code == 3);
  CHECK(w.err.empty());
}

namespace {

// A directory removed with everything in it when the test ends.
struct OwnedDir {
  std::filesystem::path path;
  explicit OwnedDir(const std::string& prefix) {
    std::string name = "/tmp/" + prefix + ".XXXXXX";
    REQUIRE(::mkdtemp(name.data()) != nullptr);
    path = name;
  }
  OwnedDir(const OwnedDir&) = delete;
  OwnedDir& operator=(const OwnedDir&) = delete;
  OwnedDir(OwnedDir&&) = delete;
  OwnedDir& operator=(OwnedDir&&) = delete;
  ~OwnedDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

} // namespace

TEST_CASE("a caller in a search-only directory (0711) can run programs there",
          "[integration][regression][cwd]") {
  // The supervisor opened the default cwd with O_RDONLY, which needs read permission: a
  // directory one may enter but not list made every run `failed` (Permission denied).
  // Root passes every permission check, so the caller here is `nobody`.
  if (::geteuid() != 0) {
    FAIL("needs root, to run chaperone as nobody in a directory nobody cannot list");
  }
  constexpr uid_t k_nobody = 65534;
  TempSpool spool;
  OwnedDir enter_only("chaperone-search-only");
  REQUIRE(::chmod(enter_only.path.c_str(), 0711) == 0);
  OwnedDir home("chaperone-nobody-spool");
  REQUIRE(::chown(home.path.c_str(), k_nobody, k_nobody) == 0);
  REQUIRE(::chmod(home.path.c_str(), 0700) == 0);
  RunOptions options;
  options.spool_value = (home.path / "spool").string();
  options.wrapper = {"setpriv",
                     "--reuid=65534",
                     "--regid=65534",
                     "--clear-groups",
                     "--",
                     "sh",
                     "-c",
                     "cd \"$0\" && exec \"$@\"",
                     enter_only.path.string()};
  options.deadline = 30s;
  // The program checks it really cannot list the directory it runs in.
  RunResult r = run_chaperone(
      spool,
      {"run", "--", "sh", "-c", "pwd -P; if ls . >/dev/null 2>&1; then echo listed; fi; exit 7"},
      options);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 7);
  CHECK(r.out == enter_only.path.string() + "\n");
  CHECK(r.err.empty());
}

TEST_CASE("a spool root that is a symlink is refused naming the symlink, not a permission",
          "[integration][regression][spool-root]") {
  // The refusal used to end in ": Permission denied", which sent people looking at modes.
  TempSpool spool;
  std::filesystem::path link = spool.scratch() / "link";
  std::filesystem::create_directory_symlink(spool.root(), link);
  RunOptions options;
  options.spool_value = link.string();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"run", "--", "true"}, {"ls"}, {"status", "x"}}) {
    std::vector<std::string> before = spool.listing();
    RunResult r = run_chaperone(spool, args, options);
    INFO(args.front() << " stderr: " << r.err);
    CHECK(r.exit_code == 125);
    CHECK(r.out.empty());
    CHECK(r.err_lines().size() == 1);
    CHECK(r.err.find(link.string() + " is a symlink to " + spool.root().string())
          != std::string::npos);
    CHECK(r.err.find("Permission denied") == std::string::npos);
    CHECK(spool.listing() == before);
  }
}

TEST_CASE("ls shows a run whose spec.json is truncated as damaged, and still lists the others",
          "[integration][regression][ls]") {
  // A damaged state.json showed as `damaged`; a damaged spec.json did not show at all.
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "victim", "--", "true"}).exit_code == 0);
  REQUIRE(run_chaperone(spool, {"run", "--name", "good", "--", "true"}).exit_code == 0);
  std::filesystem::path spec = spool.run_dir("victim") / "spec.json";
  std::string text = read_whole_file(spec);
  REQUIRE(text.size() > 10);
  write_whole_file(spec, text.substr(0, text.size() / 2));

  auto check_listing = [&](const char* how) {
    INFO(how);
    RunResult json = run_chaperone(spool, {"ls", "--json"});
    REQUIRE(json.exit_code == 0);
    nlohmann::json rows = nlohmann::json::parse(json.out);
    REQUIRE(rows.size() == 2);
    for (const nlohmann::json& row : rows) {
      if (row["run_id"] == "victim") {
        CHECK(row["state"] == "damaged");
        CHECK(row["error"].get<std::string>().find("spec.json") != std::string::npos);
      } else {
        CHECK(row["run_id"] == "good");
        CHECK(row["state"] == "exited");
      }
    }
    RunResult text_ls = run_chaperone(spool, {"ls"});
    REQUIRE(text_ls.exit_code == 0);
    CHECK(text_ls.out.find("\nvictim ") != std::string::npos);
    std::string victim_line = text_ls.out.substr(text_ls.out.find("\nvictim ") + 1);
    victim_line = victim_line.substr(0, victim_line.find('\n'));
    CHECK(victim_line.find(" damaged ") != std::string::npos);
    CHECK(victim_line.find("spec.json") != std::string::npos);
    CHECK(text_ls.out.find("\ngood ") != std::string::npos);
  };
  // Both runs are in the index (they ended); then without it, from their own files.
  REQUIRE(std::filesystem::exists(spool.root() / ".index.jsonl"));
  check_listing("through the index");
  std::filesystem::remove(spool.root() / ".index.jsonl");
  check_listing("without the index");
}

TEST_CASE("tail -f exits with the run's exit code; plain tail exits 0",
          "[integration][regression][tail]") {
  // tail -f used to exit 0 when the run ended with 3.
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  std::string id = start_detached(
      spool, {"sh", "-c", "echo started; read x < \"$0\"; echo done; exit 3", gate.string()});
  ChaperoneProcess follower(spool, {"tail", "-f", id}, within(30s));
  REQUIRE(follower.read_until(
      deadline_in(20s), "tail -f to print started", [&] { return follower.out() == "started\n"; }));
  {
    // Opening blocks until the program opens its end: then it reads the line and goes on.
    int fd = ::open(gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  RunResult r = follower.finish();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "started\ndone\n");
  CHECK(r.err.empty());

  RunResult plain = run_chaperone(spool, {"tail", id});
  CHECK(plain.exit_code == 0);
  CHECK(plain.out == "started\ndone\n");
  RunResult again = run_chaperone(spool, {"tail", "-f", "-n", "1", id});
  CHECK(again.exit_code == 3);
  CHECK(again.out == "done\n");
}
