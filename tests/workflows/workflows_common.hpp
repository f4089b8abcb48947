// tests/workflows/workflows_common.hpp: helpers shared by the workflow suites.
#pragma once

#include "tests/faults/faults_common.hpp"
#include "tests/integration/common.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace chaperone::test::workflows {

// A program that says it started (touches STARTED) and then runs until RELEASE exists:
// the test decides when it ends, without sleeps on the test's side.
inline std::vector<std::string> held_program(const std::filesystem::path& started,
                                             const std::filesystem::path& release,
                                             int code = 0) {
  return {"sh",
          "-c",
          "touch \"$1\"; while [ ! -e \"$2\" ]; do sleep 0.02; done; exit " + std::to_string(code),
          "held",
          started.string(),
          release.string()};
}

inline bool file_exists(const std::filesystem::path& path) {
  return std::filesystem::exists(path);
}

inline std::string state_of(const TempSpool& spool, const std::string& id) {
  return spool.state(id).value("state", "");
}

inline void touch(const std::filesystem::path& path) {
  write_whole_file(path, "");
}

// A detached run whose program keeps running (holding its locks and slots) until let_go().
struct HeldRun {
  std::string id;
  std::filesystem::path started;
  std::filesystem::path release;
  void let_go() const { touch(release); }
};

// Starts `run -d OPTIONS -- held_program` (files TAG.started, TAG.release in the scratch dir)
// and waits until its program has started.
inline HeldRun start_holder(const TempSpool& spool,
                            const std::string& tag,
                            const std::vector<std::string>& options,
                            int code = 0) {
  auto s = spool.scratch();
  HeldRun run{"", s / (tag + ".started"), s / (tag + ".release")};
  run.id = start_detached(spool, held_program(run.started, run.release, code), options);
  REQUIRE(
      wait_until(deadline_in(60s), tag + " to start", [&] { return file_exists(run.started); }));
  return run;
}

// As start_holder, for a run that must queue: waits until it is `waiting`.
inline HeldRun start_waiter(const TempSpool& spool,
                            const std::string& tag,
                            const std::vector<std::string>& options) {
  auto s = spool.scratch();
  HeldRun run{"", s / (tag + ".started"), s / (tag + ".release")};
  run.id = start_detached(spool, held_program(run.started, run.release), options);
  REQUIRE(wait_for_state(spool, run.id, {"waiting"}, 60s));
  return run;
}

// A program that appends "start NAME" to LOG, runs until RELEASE exists (none: at once),
// then appends "end NAME"; each append under flock(1) on LOG. The log tells who held a
// lock when.
inline std::vector<std::string> logged_program(const std::filesystem::path& log,
                                               const std::string& name,
                                               const std::filesystem::path& release = {}) {
  return {"sh",
          "-c",
          "flock \"$1\" sh -c 'echo \"start $1\" >> \"$2\"' x \"$2\" \"$1\"; "
          "if [ -n \"$3\" ]; then while [ ! -e \"$3\" ]; do sleep 0.02; done; fi; "
          "flock \"$1\" sh -c 'echo \"end $1\" >> \"$2\"' x \"$2\" \"$1\"",
          "logged",
          log.string(),
          name,
          release.string()};
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// The lines of a file that may not exist yet.
inline std::vector<std::string> log_lines(const std::filesystem::path& log) {
  return file_exists(log) ? lines_of(read_whole_file(log)) : std::vector<std::string>{};
}

inline bool log_has(const std::filesystem::path& log, const std::string& line) {
  std::vector<std::string> lines = log_lines(log);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

} // namespace chaperone::test::workflows
