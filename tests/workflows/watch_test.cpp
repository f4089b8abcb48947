// tests/workflows/watch_test.cpp: `watch --json` over 200 runs reports each run's end
// exactly once and never a run that is not fully made; `watch --output` relays every line of
// a live run once, through watches that leave the program's writes alone.
#include "tests/support/process_info.hpp"
#include "tests/workflows/workflows_common.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

using namespace chaperone::test;
using namespace chaperone::test::faults;
using namespace chaperone::test::workflows;

TEST_CASE("watch --json over 200 runs reports each exactly once per state and ending once",
          "[workflows][watch]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "marker", "--", "true"}).exit_code == 0);
  // The watcher lives through 200 launches from 4 shells: seconds in a plain build, but
  // minutes with sanitizers on a loaded 2-core machine; its own deadline must outlast the
  // launch deadline below, or the harness kills it mid-stream.
  RunOptions long_lived;
  long_lived.deadline = 420s;
  ChaperoneProcess watch(spool, {"watch", "--json", "--replay", "1"}, long_lived);
  // The replayed marker proves the root is watched (it is watched before it is listed).
  REQUIRE(watch.read_until(deadline_in(20s), "the replayed marker", [&] {
    return watch.out().find("\"run_id\":\"marker\"") != std::string::npos;
  }));
  // 200 runs from 4 shells at once, half of them failing.
  std::string script = "for i in $(seq 1 50); do \"$0\" run -d --name \"w$1-$i\" -- sh -c "
                       "\"exit $(( i % 2 ))\" >/dev/null || exit 1; done";
  std::vector<Spawned> shells;
  for (int k = 0; k < 4; ++k) {
    shells.push_back(spawn_to_files({"/bin/sh", "-c", script, chaperone_path(), std::to_string(k)},
                                    spool.root(),
                                    spool.scratch(),
                                    "shell" + std::to_string(k)));
  }
  std::vector<Spawned*> all;
  for (Spawned& shell : shells) {
    all.push_back(&shell);
  }
  REQUIRE(reap_all(all, deadline_in(180s), "200 runs started"));
  for (Spawned& shell : shells) {
    REQUIRE(shell.exit_code == 0);
  }
  REQUIRE(run_chaperone(spool, {"wait", "--any", "marker"}).exit_code == 0);
  auto finals = [&] { // in complete lines only
    std::string done = watch.out().substr(0, watch.out().rfind('\n') + 1);
    size_t n = 0;
    for (size_t at = done.find("\"event\":\"final\""); at != std::string::npos;
         at = done.find("\"event\":\"final\"", at + 1)) {
      ++n;
    }
    return n;
  };
  REQUIRE(watch.read_until(deadline_in(120s), "201 final events", [&] { return finals() >= 201; }));
  watch.send_signal(SIGTERM);
  (void)watch.finish();
  std::map<std::string, int> final_count;
  std::set<std::pair<std::string, std::string>> seen;
  for (const std::string& line : lines_of(watch.out())) {
    nlohmann::json event = nlohmann::json::parse(line);
    std::string id = event.at("run_id");
    std::string state = event.at("state").at("state");
    INFO(line);
    CHECK(id[0] != '.');
    CHECK(seen.insert({id, state}).second); // each transition once
    if (event.at("event") == "final") {
      ++final_count[id];
      if (id != "marker") {
        int i = std::stoi(id.substr(id.find('-') + 1));
        CHECK(event.at("state").at("exit_code") == i % 2);
      }
    }
  }
  CHECK(final_count.size() == 201);
  for (const auto& [id, count] : final_count) {
    CHECK(count == 1);
  }
}

TEST_CASE("watch --output relays every line of a live run once and watches its stdout and stderr "
          "with one-shot watches, never through its dir",
          "[workflows][watch][regression]") {
  // `watch --output` had the dir of every live run ask for IN_MODIFY: the kernel then marks
  // every child of the dir, and each write(2) of the program walked to the dir and queued an
  // event (a program writing 128-byte lines used +88% CPU, docs/bench/PROFILE-2026-12-02d.md).
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "marker", "--", "true"}).exit_code == 0);
  RunOptions long_lived;
  long_lived.deadline = 180s;
  ChaperoneProcess watch(spool, {"watch", "--output", "--replay", "1"}, long_lived);
  // The replayed marker proves the root is watched (it is watched before it is listed).
  REQUIRE(watch.read_until(deadline_in(20s), "the replayed marker", [&] {
    return watch.out().find(" marker exited 0\n") != std::string::npos;
  }));
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  // Lines in bursts after the gate: appends land before, during and after each re-arm.
  std::string id = start_detached(spool,
                                  {"sh",
                                   "-c",
                                   "echo first; echo oops >&2; read x < \"$0\"; i=0; "
                                   "while [ $i -lt 3000 ]; do echo \"n$i\"; i=$((i + 1)); done",
                                   gate.string()});
  std::filesystem::path dir = spool.run_dir(id);
  // Relayed while the program waits: the appends woke the watcher, not the run's end.
  REQUIRE(watch.read_until(deadline_in(30s), "the first lines relayed", [&] {
    return watch.out().find("[" + id + "] first\n") != std::string::npos
           && watch.out().find("[" + id + ":err] oops\n") != std::string::npos;
  }));
  std::vector<InotifyWatch> watches;
  REQUIRE(wait_until(deadline_in(20s), "watch to arm the stream watches", [&] {
    watches = inotify_watches(watch.pid());
    return watches_on(watches, (dir / "stdout").string()).size() == 1
           && watches_on(watches, (dir / "stderr").string()).size() == 1;
  }));
  std::string problems = run_watch_problems(watches, dir.string());
  INFO(problems);
  CHECK(problems.empty());
  for (const char* name : {"stdout", "stderr"}) {
    INFO(name);
    CHECK(watches_on(watches, (dir / name).string())[0].mask == (IN_MODIFY | IN_ONESHOT));
  }
  {
    int fd = ::open(gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  REQUIRE(watch.read_until(deadline_in(120s), "the run's end", [&] {
    return watch.out().find(" " + id + " exited 0") != std::string::npos;
  }));
  watch.send_signal(SIGTERM);
  (void)watch.finish();
  std::vector<std::string> relayed;
  std::string prefix = "[" + id + "] ";
  for (const std::string& line : lines_of(watch.out())) {
    if (line.rfind(prefix, 0) == 0) {
      relayed.push_back(line.substr(prefix.size()));
    }
  }
  std::vector<std::string> expected{"first"};
  for (int i = 0; i < 3000; ++i) {
    expected.push_back("n" + std::to_string(i));
  }
  CHECK(relayed == expected);
}
