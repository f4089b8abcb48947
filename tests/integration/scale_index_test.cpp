// tests/integration/scale_index_test.cpp: what `ls` reads from .index.jsonl and what a prefix
// lookup reads from .names must never differ from the runs' own files: runs added or removed
// by hand, live runs, damaged files, and the output with and without the caches.
#include "tests/integration/common.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace chaperone::test {

namespace {

// A copy of the finished run `source` as `id`, put in place by hand (never through `run`).
void copy_run(const TempSpool& spool, const std::string& source, const std::string& id) {
  nlohmann::json state = spool.state(source);
  std::filesystem::path staged = spool.root() / ("." + id + ".copy");
  std::filesystem::copy(spool.run_dir(source), staged);
  state["run_id"] = id;
  write_whole_file(staged / "state.json", state.dump(2) + "\n");
  std::filesystem::rename(staged, spool.run_dir(id));
}

std::string finished_source(const TempSpool& spool) {
  REQUIRE(run_chaperone(spool, {"run", "--name", "source", "--", "sh", "-c", "echo hi; exit 3"})
              .exit_code
          == 3);
  REQUIRE(wait_until(deadline_in(30s), "the supervisor of source to let go", [&] {
    return run_lock_free(spool.run_dir("source"));
  }));
  return "source";
}

nlohmann::json ls_json(const TempSpool& spool, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"ls", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

std::string ls_text(const TempSpool& spool, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"ls"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_chaperone(spool, args);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::vector<std::string> ids_of(const nlohmann::json& rows) {
  std::vector<std::string> ids;
  for (const auto& row : rows) {
    ids.push_back(row["run_id"].get<std::string>());
  }
  return ids;
}

} // namespace

TEST_CASE("ls answers the same through the index, without it, and from an old-format index",
          "[integration][ls][index]") {
  TempSpool spool;
  finished_source(spool);
  for (int i = 0; i < 5; ++i) {
    copy_run(spool, "source", "copy-" + std::to_string(i)); // not indexed: read in full
  }
  REQUIRE(run_chaperone(spool, {"run", "--name", "failing", "--", "sh", "-c", "exit 7"}).exit_code
          == 7);
  std::filesystem::path index = spool.root() / ".index.jsonl";
  std::vector<std::vector<std::string>> filters{{},
                                                {"--state", "exited"},
                                                {"--state", "final", "--name", "copy-*"},
                                                {"--limit", "3"},
                                                {"--since", "1d"},
                                                {"--until", "2000-01-01"}};
  // First ls: reads the copies in full and indexes them for the next.
  std::vector<nlohmann::json> first;
  std::vector<std::string> first_text;
  for (const auto& filter : filters) {
    first.push_back(ls_json(spool, filter));
    first_text.push_back(ls_text(spool, filter));
  }
  std::string text = read_whole_file(index);
  for (int i = 0; i < 5; ++i) {
    CHECK(text.find("\"copy-" + std::to_string(i) + "\"") != std::string::npos);
  }
  auto same_as_first = [&](const char* how) {
    INFO(how);
    for (size_t i = 0; i < filters.size(); ++i) {
      nlohmann::json rows = ls_json(spool, filters[i]);
      CHECK(rows == first[i]);
      std::string shown = ls_text(spool, filters[i]);
      CHECK(shown == first_text[i]);
    }
  };
  same_as_first("through the index");
  CHECK(first[0].size() == 7);
  CHECK(first[3].size() == 3);
  CHECK(first[5].empty());
  std::filesystem::remove(index);
  same_as_first("without the index");
  // An index as chaperone wrote it before version 2: JSON objects with the keys beside.
  std::ofstream old(index);
  for (const nlohmann::json& row : first[0]) {
    std::string id = row["run_id"].get<std::string>();
    nlohmann::json line = row;
    line.erase("run_dir");
    struct stat st {};
    REQUIRE(::stat(spool.run_dir(id).c_str(), &st) == 0);
    line["ino"] = static_cast<std::uint64_t>(st.st_ino);
    for (const char* file : {"state", "spec"}) {
      REQUIRE(::stat((spool.run_dir(id) / (std::string(file) + ".json")).c_str(), &st) == 0);
      line[std::string(file) + "_size"] = static_cast<std::uint64_t>(st.st_size);
      line[std::string(file) + "_mtime_ns"] =
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    }
    old << line.dump() << "\n";
  }
  old.close();
  same_as_first("from a version 1 index");
}

TEST_CASE("ls through the index: runs removed by hand vanish, added ones appear, live ones "
          "show live, damage shows",
          "[integration][ls][index]") {
  TempSpool spool;
  finished_source(spool);
  REQUIRE(run_chaperone(spool, {"run", "--name", "doomed", "--", "true"}).exit_code == 0);
  REQUIRE(ls_json(spool).size() == 2);
  spool.remove_run("doomed");
  CHECK(ids_of(ls_json(spool)) == std::vector<std::string>{"source"});
  copy_run(spool, "source", "later");
  std::vector<std::string> ids = ids_of(ls_json(spool));
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"later", "source"});
  // A run removed and made again under the same name: the new one, not the old line.
  spool.remove_run("later");
  REQUIRE(run_chaperone(spool, {"run", "--name", "later", "--", "sh", "-c", "exit 5"}).exit_code
          == 5);
  for (const auto& row : ls_json(spool)) {
    if (row["run_id"] == "later") {
      CHECK(row["exit_code"] == 5);
    }
  }
  std::filesystem::path fifo = spool.scratch() / "gate";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string live =
      start_detached(spool, {"sh", "-c", "read line < " + fifo.string()}, {"--name", "live"});
  bool shown_live = false;
  for (const auto& row : ls_json(spool)) {
    // `run -d` returns once the run is visible: still starting, or running.
    shown_live =
        shown_live
        || (row["run_id"] == "live" && (row["state"] == "running" || row["state"] == "starting"));
  }
  CHECK(shown_live);
  {
    std::ofstream gate(fifo);
    gate << "go\n";
  }
  REQUIRE(run_chaperone(spool, {"wait", "live"}).exit_code == 0);
  REQUIRE(wait_until(deadline_in(30s), "the supervisor of live to let go", [&] {
    return run_lock_free(spool.run_dir("live"));
  }));
  // Damage in place after the end, on a run that ls has indexed: same size, new mtime.
  std::filesystem::path state = spool.run_dir("source") / "state.json";
  std::string bytes = read_whole_file(state);
  std::string bent = bytes;
  bent[0] = 'X';
  write_whole_file(state, bent);
  for (const auto& row : ls_json(spool)) {
    if (row["run_id"] == "source") {
      CHECK(row["state"] == "damaged");
    } else {
      CHECK(row["state"] == "exited");
    }
  }
}

TEST_CASE("gc drops the lines of the runs it removed from the index", "[integration][gc][index]") {
  TempSpool spool;
  for (const char* name : {"first", "second", "third"}) {
    REQUIRE(run_chaperone(spool, {"run", "--name", name, "--", "true"}).exit_code == 0);
    REQUIRE(wait_until(deadline_in(30s), "the supervisor to let go", [&] {
      return run_lock_free(spool.run_dir(name));
    }));
  }
  std::filesystem::path index = spool.root() / ".index.jsonl";
  for (const char* name : {"first", "second", "third"}) {
    CHECK(read_whole_file(index).find("\"" + std::string(name) + "\"") != std::string::npos);
  }
  RunResult gc = run_chaperone(spool, {"gc", "--keep", "1"});
  INFO("gc: " << gc.out << gc.err);
  REQUIRE(gc.exit_code == 0);
  std::vector<std::string> kept = spool.run_ids();
  REQUIRE(kept.size() == 1);
  std::string text = read_whole_file(index);
  for (const char* name : {"first", "second", "third"}) {
    bool listed = text.find("\"" + std::string(name) + "\"") != std::string::npos;
    CHECK(listed == (kept.front() == name));
  }
  CHECK(ids_of(ls_json(spool)) == kept);
}

TEST_CASE("status PREFIX in a spool of 1,000+ runs goes through .names and stays exact",
          "[integration][status][index]") {
  TempSpool spool;
  finished_source(spool);
  for (int i = 0; i < 1000; ++i) {
    char id[32];
    (void)std::snprintf(id, sizeof id, "bulk-%04d-x", i);
    copy_run(spool, "source", id);
  }
  std::filesystem::path names = spool.root() / ".names";
  CHECK_FALSE(std::filesystem::exists(names));
  RunResult found = run_chaperone(spool, {"status", "bulk-0005"});
  INFO("stderr: " << found.err);
  CHECK(found.exit_code == 0);
  CHECK(found.out.find("bulk-0005-x") != std::string::npos);
  REQUIRE(std::filesystem::exists(names)); // written by that readdir
  CHECK(read_whole_file(names).rfind("chaperone-names 1\n", 0) == 0);
  // Through the file now; a run made by `run` is named in it before it is visible.
  REQUIRE(run_chaperone(spool, {"run", "--name", "zeta-made", "--", "true"}).exit_code == 0);
  CHECK(read_whole_file(names).find("\nzeta-made\n") != std::string::npos);
  RunResult made = run_chaperone(spool, {"status", "zeta-m"});
  CHECK(made.exit_code == 0);
  CHECK(made.out.find("zeta-made") != std::string::npos);
  // Put in place by hand: not in the file, found by the readdir fallback.
  copy_run(spool, "source", "hand-made");
  RunResult hand = run_chaperone(spool, {"status", "hand-m"});
  CHECK(hand.exit_code == 0);
  CHECK(hand.out.find("hand-made") != std::string::npos);
  CHECK(read_whole_file(names).find("\nhand-made\n") != std::string::npos); // rebuilt
  // Removed by hand: the stale name is checked and dropped.
  spool.remove_run("bulk-0007-x");
  RunResult gone = run_chaperone(spool, {"status", "bulk-0007"});
  CHECK(gone.exit_code == 125);
  CHECK(gone.err.find("no such run") != std::string::npos);
  // Several matches: ambiguous, every candidate counted from the directory itself.
  RunResult several = run_chaperone(spool, {"status", "bulk-001"});
  CHECK(several.exit_code == 125);
  CHECK(several.err.find("ambiguous") != std::string::npos);
  CHECK(several.err.find("(10 in all)") == std::string::npos);
  CHECK(several.err.find("bulk-0019-x") != std::string::npos); // all 10 listed
  RunResult many = run_chaperone(spool, {"status", "bulk-0"});
  CHECK(many.err.find("(999 in all)") != std::string::npos);
  // A damaged file is not trusted: the readdir answers.
  write_whole_file(names, "garbage\nbulk-0003-x\n");
  RunResult damaged = run_chaperone(spool, {"status", "bulk-0003"});
  CHECK(damaged.exit_code == 0);
  CHECK(damaged.out.find("bulk-0003-x") != std::string::npos);
  CHECK(read_whole_file(names).rfind("chaperone-names 1\n", 0) == 0);
}

} // namespace chaperone::test

namespace chaperone::test {

TEST_CASE("run makes a run visible only while no rewrite of .names reads the spool",
          "[integration][names]") {
  // A rewrite of .names holds an exclusive flock on the root while it reads the directory;
  // `run` notes the name and renames the run in under a shared one. Were the rename free to
  // land after the rewrite's readdir, the name would be lost and a prefix matching two runs
  // could resolve to one of them.
  TempSpool spool;
  int root = ::open(spool.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(root >= 0);
  REQUIRE(::flock(root, LOCK_EX) == 0); // as rewrite_names does
  ChaperoneProcess run(spool, {"run", "-d", "--name", "held", "--", "true"});
  // It gets as far as the flock (syscall 73 on x86-64) and waits there, the run not visible.
  REQUIRE(wait_until(deadline_in(30s), "run to wait for the root's flock", [&] {
    std::ifstream in("/proc/" + std::to_string(run.pid()) + "/syscall");
    std::string number;
    in >> number;
    return number == std::to_string(SYS_flock);
  }));
  CHECK_FALSE(std::filesystem::exists(spool.run_dir("held")));
  REQUIRE(::close(root) == 0);
  RunResult done = run.finish();
  INFO("stderr: " << done.err);
  CHECK(done.exit_code == 0);
  CHECK(std::filesystem::is_directory(spool.run_dir("held")));
  REQUIRE(run_chaperone(spool, {"wait", "held"}).exit_code == 0);
}

} // namespace chaperone::test
