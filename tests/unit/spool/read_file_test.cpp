// tests/unit/spool/read_file_test.cpp: read_file returns every byte of regular files of any
// size and of /proc files, which report size 0.
#include "spool/io.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>

using namespace chaperone;
using chaperone::test::TempSpool;

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("read_file returns regular files whole, from empty to larger than any buffer",
          "[spool][io]") {
  TempSpool spool;
  for (std::size_t size : {std::size_t{0},
                           std::size_t{1},
                           std::size_t{511},
                           std::size_t{512},
                           std::size_t{4096},
                           std::size_t{65537},
                           std::size_t{300000}}) {
    std::filesystem::path path = spool.root() / ("f" + std::to_string(size));
    std::string content;
    for (std::size_t i = 0; i < size; ++i) {
      content.push_back(static_cast<char>(i * 7 + i / 251));
    }
    std::ofstream(path, std::ios::binary) << content;
    std::string got = spool::read_file(path);
    CHECK(got.size() == size);
    CHECK(got == content);
  }
}

TEST_CASE("read_file reads /proc files, whose size says 0, past its small buffer", "[spool][io]") {
  // maps of a process with a C++ runtime is several KiB: more than one read.
  std::string maps = spool::read_file("/proc/self/maps");
  CHECK(maps.size() > 2048);
  CHECK(maps.find("[stack]") != std::string::npos);
  CHECK(maps.back() == '\n');
  std::string cmdline = spool::read_file("/proc/self/cmdline");
  CHECK(cmdline == slurp("/proc/self/cmdline"));
}

TEST_CASE("read_file names the path when it cannot open it", "[spool][io]") {
  TempSpool spool;
  CHECK_THROWS_WITH(spool::read_file(spool.root() / "missing"), Catch::Contains("missing"));
}
