// tests/integration/in_image_test.cpp: a supervisor forked from the front end without exec
// (chaperone/client/in_image_start.hpp) must look, from outside, as the exec'd one does:
// the same command line and name, session, fds, signal dispositions, umask, cwd and
// environment. Compared side by side with an exec'd supervisor (--max-output runs exec),
// both of attached runs kept in the gate (waiting for a --lock another run holds) until let.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace chaperone::test;

namespace {

std::string proc_path(pid_t pid, const std::string& name) {
  return "/proc/" + std::to_string(pid) + "/" + name;
}

std::string link_target(const std::string& path) {
  std::error_code error;
  std::filesystem::path target = std::filesystem::read_symlink(path, error);
  return error ? std::string("?") : target.string();
}

// A line of /proc/PID/status, without its name.
std::string status_field(pid_t pid, const std::string& name) {
  std::string text = read_proc_file(pid, "status");
  std::size_t at = text.find("\n" + name + ":\t");
  REQUIRE(at != std::string::npos);
  at += name.size() + 3;
  return text.substr(at, text.find('\n', at) - at);
}

// fd number -> what it points at, with the run's own directory written as RUN/.
std::map<int, std::string> fds_of(pid_t pid, const std::string& run_dir) {
  std::map<int, std::string> fds;
  for (const auto& entry : std::filesystem::directory_iterator(proc_path(pid, "fd"))) {
    std::string target = link_target(entry.path().string());
    if (target.rfind(run_dir + "/", 0) == 0) {
      target = "RUN/" + target.substr(run_dir.size() + 1);
    }
    // The two wait in one queue: their tickets differ by number.
    std::size_t queue = target.find("/.locks/queue/");
    if (queue != std::string::npos) {
      target = target.substr(0, target.rfind('/') + 1) + "TICKET";
    }
    // Pipes, eventfds and the like differ by inode: keep their kind only.
    std::size_t bracket = target.find(":[");
    if (bracket != std::string::npos) {
      target = target.substr(0, bracket);
    }
    fds[std::stoi(entry.path().filename().string())] = target;
  }
  return fds;
}

std::set<std::string> environ_of(pid_t pid) {
  std::set<std::string> entries;
  std::string text = read_proc_file(pid, "environ");
  std::size_t start = 0;
  for (std::size_t nul = text.find('\0'); nul != std::string::npos;
       start = nul + 1, nul = text.find('\0', start)) {
    entries.insert(text.substr(start, nul - start));
  }
  return entries;
}

pid_t waiting_supervisor(const TempSpool& spool, const std::string& id) {
  // Started by an attached front end in the background: its run may not be there yet.
  REQUIRE(wait_until(deadline_in(20s), "run " + id + " to be published", [&] {
    return std::filesystem::exists(spool.run_dir(id) / "state.json");
  }));
  REQUIRE(wait_for_state(spool, id, {"waiting"}));
  nlohmann::json st = spool.state(id);
  REQUIRE(st.contains("supervisor_pid"));
  return st["supervisor_pid"].get<pid_t>();
}

} // namespace

TEST_CASE("a supervisor forked without exec looks from outside as an exec'd one does",
          "[integration][in-image]") {
  TempSpool spool;
  std::filesystem::path fifo = spool.scratch() / "gate";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // The holder of lock L waits for the test; the two runs under test wait for L.
  std::string holder =
      start_detached(spool, {"sh", "-c", "read x < \"$0\"", fifo.string()}, {"--lock", "L"});
  REQUIRE(wait_for_state(spool, holder, {"running"}));
  // Two attached runs, one with --max-output, whose supervisor is exec'd as it never hands
  // off; and a `run -d`, whose supervisor is forked too.
  const std::string forked = "forked";
  const std::string execd = "execd";
  std::vector<std::string> common{"run", "--lock", "L", "--env", "IN_IMAGE_TEST=1"};
  std::vector<std::string> forked_args = common;
  forked_args.insert(forked_args.end(), {"--name", forked, "--", "true"});
  ChaperoneProcess forked_front_end(spool, forked_args);
  std::vector<std::string> exec_args = common;
  exec_args.insert(exec_args.end(), {"--max-output", "1M", "--name", execd, "--", "true"});
  ChaperoneProcess exec_front_end(spool, exec_args);
  std::string detached = start_detached(spool, {"true"}, {"--lock", "L"});
  pid_t forked_pid = waiting_supervisor(spool, forked);
  pid_t exec_pid = waiting_supervisor(spool, execd);
  pid_t detached_pid = waiting_supervisor(spool, detached);
  std::string bin_dir = std::filesystem::path(chaperone_path()).parent_path().string();

  // What tells them apart: the image they run (the front end's, until the first hand-off).
  CHECK(link_target(proc_path(forked_pid, "exe")) == bin_dir + "/chaperone");
  CHECK(link_target(proc_path(detached_pid, "exe")) == bin_dir + "/chaperone");
  CHECK(link_target(proc_path(exec_pid, "exe")) == bin_dir + "/chaperone-supervisor");

  // Found the same way: argv[0] the supervisor binary, argv[1] the run dir.
  for (auto [pid, id] : {std::pair{forked_pid, forked},
                         std::pair{exec_pid, execd},
                         std::pair{detached_pid, detached}}) {
    INFO("run " << id << " supervisor " << pid);
    std::vector<std::string> argv = read_proc_argv(pid);
    REQUIRE(argv.size() > 2);
    CHECK(argv[0] == bin_dir + "/chaperone-supervisor");
    CHECK(argv[1] == spool.run_dir(id).string());
    CHECK(argv.back() == "true");
    CHECK(std::find(argv.begin(), argv.end(), "--lock-fd") != argv.end());
    CHECK(read_proc_file(pid, "comm") == "chaperone-super\n");
    CHECK(::getsid(pid) == pid);
    CHECK(link_target(proc_path(pid, "cwd")) == "/");
    CHECK(status_field(pid, "Umask") == "0077");
    // SIGHUP and SIGPIPE ignored, nothing else: nothing of the front end's.
    CHECK(status_field(pid, "SigIgn") == "0000000000001001");
  }
  // The same command line but for the run dir and --max-output.
  std::vector<std::string> forked_argv = read_proc_argv(forked_pid);
  std::vector<std::string> exec_argv = read_proc_argv(exec_pid);
  auto normalized = [&spool](std::vector<std::string> argv, const std::string& id) {
    auto await = std::find(argv.begin(), argv.end(), "--await-publish");
    REQUIRE(argv.end() - await > 2);
    CHECK(await[2].rfind((spool.root() / ("." + id + ".")).string(), 0) == 0); // staged dir
    argv.erase(await, await + 3);
    std::replace(argv.begin(), argv.end(), spool.run_dir(id).string(), std::string("RUN_DIR"));
    auto flag = std::find(argv.begin(), argv.end(), "--max-output");
    if (flag != argv.end() && argv.end() - flag > 1) {
      argv.erase(flag, flag + 2);
    }
    return argv;
  };
  CHECK(normalized(forked_argv, forked) == normalized(exec_argv, execd));

  // The same fds: stdio on /dev/null, the run's lock on 3, the supervisor log; the gate's
  // own; no leftover of the front end (its spool root, its inotify, its reader mark).
  std::map<int, std::string> forked_fds = fds_of(forked_pid, spool.run_dir(forked).string());
  std::map<int, std::string> exec_fds = fds_of(exec_pid, spool.run_dir(execd).string());
  CHECK(forked_fds[0] == "/dev/null");
  CHECK(forked_fds[1] == "/dev/null");
  CHECK(forked_fds[2] == "/dev/null");
  CHECK(forked_fds[3] == "RUN/lock");
  // The exec'd one keeps no image fds (it never hands off): drop those from the comparison.
  for (auto it = forked_fds.begin(); it != forked_fds.end();) {
    bool image = it->second == bin_dir + "/chaperone-supervisor"
                 || it->second == bin_dir + "/chaperone-hold";
    it = image ? forked_fds.erase(it) : std::next(it);
  }
  auto kinds = [](const std::map<int, std::string>& fds) {
    std::multiset<std::string> targets;
    for (const auto& [fd, target] : fds) {
      targets.insert(target);
    }
    return targets;
  };
  CHECK(kinds(forked_fds) == kinds(exec_fds));

  // The same environment: the caller's with --env applied.
  std::set<std::string> forked_env = environ_of(forked_pid);
  CHECK(forked_env.count("IN_IMAGE_TEST=1") == 1);
  CHECK(forked_env == environ_of(exec_pid));

  // Both then run their program and end it as usual once the lock is theirs.
  int gate = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(gate >= 0);
  REQUIRE(::write(gate, "go\n", 3) == 3);
  ::close(gate);
  for (ChaperoneProcess* front_end : {&forked_front_end, &exec_front_end}) {
    RunResult finished = front_end->finish();
    INFO("run: " << finished.err);
    CHECK(finished.exit_code == 0);
  }
  for (const std::string& id : {holder, detached}) {
    RunResult waited = run_chaperone(spool, {"wait", id});
    CHECK(waited.exit_code == 0);
  }
}

// The forked supervisor takes its title once the program has started (SupervisorOptions::title),
// not at its own start: it is there while the program runs, before any hand-off. The program
// ends before the settle time, so nothing hands off and the supervisor is watched throughout.
TEST_CASE("a forked supervisor takes its title once its program has started",
          "[integration][in-image]") {
  TempSpool spool;
  std::string bin_dir = std::filesystem::path(chaperone_path()).parent_path().string();
  std::string id = start_detached(spool, {"sleep", "0.08"});
  REQUIRE(wait_for_state(spool, id, {"running", "exited"}));
  nlohmann::json st = spool.state(id);
  REQUIRE(st.contains("supervisor_pid"));
  auto pid = st["supervisor_pid"].get<pid_t>();
  bool titled = false;
  std::vector<std::string> argv;
  REQUIRE(wait_until(deadline_in(20s), "the supervisor's title or its end", [&] {
    std::string comm = read_proc_file(pid, "comm");
    if (comm == "chaperone-super\n") {
      argv = read_proc_argv(pid);
      titled = true;
    }
    return titled || comm.empty();
  }));
  CHECK(titled);
  REQUIRE(argv.size() > 2);
  CHECK(argv[0] == bin_dir + "/chaperone-supervisor");
  CHECK(argv[1] == spool.run_dir(id).string());
  CHECK(argv.back() == "0.08");
  RunResult waited = run_chaperone(spool, {"wait", id});
  CHECK(waited.exit_code == 0);
}

TEST_CASE("an attached run's forked supervisor hands off and resumes into chaperone-supervisor",
          "[integration][in-image]") {
  TempSpool spool;
  // Longer than the settle time: the supervisor forked by the front end goes to
  // chaperone-hold, and comes back as chaperone-supervisor (exec'd) to record the end.
  RunResult r = run_chaperone(spool, {"run", "--name", "a", "--", "sh", "-c", "sleep 0.5; exit 7"});
  INFO(r.err);
  CHECK(r.exit_code == 7);
  std::string log = read_whole_file(spool.run_dir("a") / "supervisor.log");
  INFO(log);
  CHECK(log.find("holding: exec chaperone-hold") != std::string::npos);
  CHECK(log.find("resumed pid=") != std::string::npos);
  CHECK(spool.state("a")["exit_code"] == 7);
}

// The front end gives its code mapping an anon_vma before it forks the supervisor (one byte
// written back through a moment of PROT_WRITE, in_image_start.hpp), so the fork copies its
// page-table entries. Neither process may be left with writable code, nor with the mapping
// split in pieces.
TEST_CASE("the front end and its forked supervisor keep one read-only mapping of their code",
          "[integration][in-image]") {
  TempSpool spool;
  GatedAttachedRun run(spool, "code");
  pid_t supervisor = spool.state("code").at("supervisor_pid").get<pid_t>();
  for (pid_t pid : {run.front().pid(), supervisor}) {
    std::string maps = read_proc_file(pid, "maps");
    INFO("pid " << pid << " maps:\n" << maps);
    std::string image = link_target(proc_path(pid, "exe"));
    int executable = 0;
    std::istringstream lines(maps);
    for (std::string line; std::getline(lines, line);) {
      if (line.size() < 23 || line.find(image) == std::string::npos) {
        continue;
      }
      std::string permissions = line.substr(line.find(' ') + 1, 4);
      bool writable_code =
          permissions.find('w') != std::string::npos && permissions.find('x') != std::string::npos;
      CHECK(!writable_code);
      if (permissions.find('x') != std::string::npos) {
        ++executable;
      }
    }
    CHECK(executable == 1);
  }
  run.release();
}

// An attached front end sleeps from the run's publication until its forked supervisor has
// let the program go (LaunchRequest::await_program_start), so that it does not take the CPU
// the supervisor needs on the way to the program's start; `-vv` says how it woke. A run that
// waits at a gate wakes it before the wait: the front end follows the waiting run, it does
// not sit out the limit. A detached launch and an exec'd supervisor (--max-output) never
// make it sleep.
TEST_CASE("an attached front end sleeps until its forked supervisor lets the program go",
          "[integration][in-image]") {
  TempSpool spool;
  const std::regex woken("^chaperone: slept [0-9]+ us until the supervisor let the program go$",
                         std::regex::multiline);
  RunResult attached = run_chaperone(spool, {"-vv", "run", "--", "sh", "-c", "exit 4"});
  INFO(attached.err);
  CHECK(attached.exit_code == 4);
  CHECK(std::regex_search(attached.err, woken));

  RunResult detached = run_chaperone(spool, {"-vv", "run", "-d", "--", "true"});
  CHECK(detached.exit_code == 0);
  CHECK(detached.err.find("slept") == std::string::npos);
  RunResult execd = run_chaperone(spool, {"-vv", "run", "--max-output", "1M", "--", "true"});
  CHECK(execd.exit_code == 0);
  CHECK(execd.err.find("slept") == std::string::npos);

  // A program that cannot start: the supervisor records it and wakes the front end then.
  RunResult missing = run_chaperone(spool, {"-vv", "run", "--", "/nonexistent/program"});
  INFO(missing.err);
  CHECK(missing.exit_code == 127);
  CHECK(std::regex_search(missing.err, woken));

  std::filesystem::path fifo = spool.scratch() / "gate";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string holder =
      start_detached(spool, {"sh", "-c", "read x < \"$0\"", fifo.string()}, {"--lock", "L"});
  REQUIRE(wait_for_state(spool, holder, {"running"}));
  ChaperoneProcess gated(spool, {"-vv", "run", "--lock", "L", "--name", "gated", "--", "true"});
  (void)waiting_supervisor(spool, "gated");
  // Said while the run still waits for L: woken by the supervisor before its wait.
  REQUIRE(gated.read_until(deadline_in(20s), "the front end's word on its sleep", [&] {
    return gated.err().find("slept") != std::string::npos
           && gated.err().find('\n', gated.err().find("slept")) != std::string::npos;
  }));
  CHECK(std::regex_search(gated.err(), woken));
  CHECK(spool.state("gated").at("state") == "waiting");
  int gate = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(gate >= 0);
  REQUIRE(::write(gate, "go\n", 3) == 3);
  ::close(gate);
  RunResult finished = gated.finish();
  INFO(finished.err);
  CHECK(finished.exit_code == 0);
  CHECK(run_chaperone(spool, {"wait", holder}).exit_code == 0);
}
