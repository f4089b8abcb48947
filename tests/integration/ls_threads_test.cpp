// tests/integration/ls_threads_test.cpp: `ls` on a spool large enough to stat its runs on two
// threads (chaperone/cli/run_scan.hpp) lists exactly what it lists on one (the front end
// pinned to one CPU with taskset): the same rows in the same order, damage after indexing
// shown as damage, removed runs gone, live runs live.
#include "tests/integration/common.hpp"

#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

namespace chaperone::test {

namespace {

// The CPUs this process may run on.
std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) {
        cpus.push_back(cpu);
      }
    }
  }
  return cpus;
}

// A copy of the finished run `source` as `id` started at `start`, put in place by hand.
void copy_run(const TempSpool& spool,
              const std::string& source,
              const std::string& id,
              const std::string& start) {
  nlohmann::json state = spool.state(source);
  std::filesystem::path staged = spool.root() / ("." + id + ".copy");
  std::filesystem::copy(spool.run_dir(source), staged);
  state["run_id"] = id;
  state["start_time"] = start;
  write_whole_file(staged / "state.json", state.dump(2) + "\n");
  std::filesystem::rename(staged, spool.run_dir(id));
}

struct Listed {
  RunResult two; // as it runs: two CPUs or more
  RunResult one; // pinned to one CPU
};

Listed ls_both_ways(const TempSpool& spool, int cpu, std::vector<std::string> args) {
  args.insert(args.begin(), "-vv");
  Listed listed;
  listed.two = run_chaperone(spool, args);
  RunOptions pinned;
  pinned.wrapper = {"taskset", "-c", std::to_string(cpu)};
  listed.one = run_chaperone(spool, args, pinned);
  INFO("stderr on two: " << listed.two.err << "\nstderr on one: " << listed.one.err);
  REQUIRE(listed.two.exit_code == 0);
  REQUIRE(listed.one.exit_code == 0);
  CHECK(listed.two.err.find("stat on 2 thread(s)") != std::string::npos);
  CHECK(listed.one.err.find("stat on 1 thread(s)") != std::string::npos);
  return listed;
}

} // namespace

TEST_CASE("ls on two threads lists the same rows in the same order as on one",
          "[integration][ls][index]") {
  std::vector<int> cpus = usable_cpus();
  if (cpus.size() < 2) {
    skip_test("ls uses a second thread only where it may run on two CPUs; this has "
              + std::to_string(cpus.size()));
  }
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "source", "--", "sh", "-c", "exit 3"}).exit_code
          == 3);
  REQUIRE(wait_until(deadline_in(30s), "the supervisor of source to let go", [&] {
    return run_lock_free(spool.run_dir("source"));
  }));
  // 1,200 runs, three to a start time (the order among them: by id), put in place by hand.
  constexpr int k_runs = 1200;
  for (int i = 0; i < k_runs; ++i) {
    char id[32];
    char start[40];
    (void)std::snprintf(id, sizeof id, "bulk-%04d", (i * 7919) % k_runs); // not in time order
    (void)std::snprintf(start,
                        sizeof start,
                        "2026-11-%02dT%02d:%02d:00.000000Z",
                        1 + i / 3 / 60 / 24 % 28,
                        i / 3 / 60 % 24,
                        i / 3 % 60);
    copy_run(spool, "source", id, start);
  }
  // The first ls reads them in full and indexes them; the index is then large enough.
  REQUIRE(run_chaperone(spool, {"ls"}).exit_code == 0);
  struct stat index {};
  REQUIRE(::stat((spool.root() / ".index.jsonl").c_str(), &index) == 0);
  REQUIRE(index.st_size >= off_t{64} * 1024); // where ls takes a second thread

  // Changed by hand after their lines were written: each stat must catch it.
  std::filesystem::path bent = spool.run_dir("bulk-0001") / "state.json";
  std::string bytes = read_whole_file(bent);
  bytes[0] = 'X'; // same size, new mtime
  write_whole_file(bent, bytes);
  std::filesystem::remove(spool.run_dir("bulk-0002") / "spec.json");
  std::filesystem::path truncated = spool.run_dir("bulk-0003") / "state.json";
  std::filesystem::resize_file(truncated, 10);
  spool.remove_run("bulk-0004");
  // Same name, new directory (a new inode), failed instead of exited.
  spool.remove_run("bulk-0005");
  {
    nlohmann::json state = spool.state("source");
    state["state"] = "failed";
    state["error"] = "made by hand";
    std::filesystem::path staged = spool.root() / ".bulk-0005.copy";
    std::filesystem::copy(spool.run_dir("source"), staged);
    state["run_id"] = "bulk-0005";
    write_whole_file(staged / "state.json", state.dump(2) + "\n");
    std::filesystem::rename(staged, spool.run_dir("bulk-0005"));
  }

  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"ls"}, {"ls", "--json"}, {"ls", "--state", "damaged"}, {"ls", "--limit", "50"}}) {
    INFO("chaperone " << args.front() << (args.size() > 1 ? " " + args[1] : ""));
    Listed listed = ls_both_ways(spool, cpus.front(), args);
    CHECK(listed.two.out == listed.one.out);
  }
  nlohmann::json rows =
      nlohmann::json::parse(ls_both_ways(spool, cpus.front(), {"ls", "--json"}).two.out);
  REQUIRE(rows.size() == k_runs); // 1,200 copies and source, less bulk-0004
  std::map<std::string, std::string> state_of;
  for (const auto& row : rows) {
    state_of[row["run_id"].get<std::string>()] = row["state"].get<std::string>();
  }
  CHECK(state_of.count("bulk-0004") == 0);
  CHECK(state_of["bulk-0001"] == "damaged");
  CHECK(state_of["bulk-0002"] == "damaged");
  CHECK(state_of["bulk-0003"] == "damaged");
  CHECK(state_of["bulk-0005"] == "failed");
  CHECK(state_of["bulk-0006"] == "exited");
  CHECK(std::count_if(state_of.begin(),
                      state_of.end(),
                      [](const auto& entry) { return entry.second == "exited"; })
        == k_runs - 4);
  // Newest first; within one start time, by id, descending.
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i - 1]["state"] == "damaged" || rows[i]["state"] == "damaged") {
      continue; // no start time: sorted apart
    }
    std::string a = rows[i - 1]["start_time"].get<std::string>();
    std::string b = rows[i]["start_time"].get<std::string>();
    INFO(rows[i - 1]["run_id"] << " before " << rows[i]["run_id"]);
    CHECK((a > b || (a == b && rows[i - 1]["run_id"] > rows[i]["run_id"])));
  }

  // A live run among them shows live on two threads too.
  std::filesystem::path fifo = spool.scratch() / "gate";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  start_detached(spool, {"sh", "-c", "read line < " + fifo.string()}, {"--name", "live"});
  REQUIRE(wait_until(deadline_in(30s), "live to run", [&] {
    return spool.state("live").value("state", "") == "running";
  }));
  bool shown_live = false;
  for (const auto& row :
       nlohmann::json::parse(ls_both_ways(spool, cpus.front(), {"ls", "--json"}).two.out)) {
    shown_live = shown_live || (row["run_id"] == "live" && row["state"] == "running");
  }
  CHECK(shown_live);
  {
    std::ofstream gate(fifo);
    gate << "go\n";
  }
  REQUIRE(run_chaperone(spool, {"wait", "live"}).exit_code == 0);
}

} // namespace chaperone::test
