// tests/workflows/workflows_common.hpp: helpers shared by the workflow suites.
#pragma once

#include "tests/faults/faults_common.hpp"
#include "tests/integration/common.hpp"

#include <catch2/catch.hpp>

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

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

} // namespace chaperone::test::workflows
