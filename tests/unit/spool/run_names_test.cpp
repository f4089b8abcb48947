// tests/unit/spool/run_names_test.cpp: names_with_prefix() reads <root>/.names in slices; a
// line cut by a slice boundary, the first and the last line, and a torn tail must all read as
// one whole read would.
#include "spool/run_names.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace chaperone;
using chaperone::test::TempSpool;

namespace {

constexpr std::string_view k_header = "chaperone-names 1\n";

// A names file of `count` filler ids "fill-NNNNNNN" (none of which exists as a directory), with
// `id`'s line starting exactly `at` bytes into the file (a padding line of 2-14 bytes before
// it gets it there; an `at` inside the header puts it first).
std::string names_with_id_at(std::size_t count, std::size_t at, const std::string& id) {
  std::string text(k_header);
  std::size_t i = 0;
  auto filler = [&] {
    char line[32];
    (void)std::snprintf(line, sizeof line, "fill-%07zu\n", i++);
    text += line;
  };
  while (i < count && text.size() + 13 + 2 <= at) {
    filler();
  }
  if (at >= text.size() + 2) {
    text += std::string(at - text.size() - 1, 'p') + "\n";
  }
  text += id + "\n";
  while (i < count) {
    filler();
  }
  return text;
}

void make_dir(const TempSpool& spool, const std::string& id) {
  std::filesystem::create_directory(spool.root() / id);
}

std::vector<std::string> lookup(const TempSpool& spool, const std::string& prefix) {
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  std::optional<std::vector<std::string>> found = spool::names_with_prefix(root, prefix);
  REQUIRE(found.has_value());
  return *found;
}

} // namespace

TEST_CASE("names_with_prefix finds a line wherever the read slices cut the file",
          "[unit][run_names]") {
  TempSpool spool;
  const std::string id = "20261203T041500.123456Z-abcdef";
  make_dir(spool, id);
  // 256 KiB slices: byte by byte across the first two boundaries (the id's line before, across
  // and after each), and the very first and last lines of a 3 MB file.
  std::vector<std::size_t> offsets{0, 3'200'000};
  for (std::size_t boundary : {std::size_t{256} * 1024, std::size_t{512} * 1024}) {
    for (std::size_t delta = 0; delta < 48; ++delta) {
      offsets.push_back(boundary - 40 + delta);
    }
  }
  for (std::size_t at : offsets) {
    INFO("id's line at byte " << at);
    std::string text = names_with_id_at(240'000, at, id);
    REQUIRE(text.size() > 3'000'000);
    if (at >= k_header.size() + 2) {
      REQUIRE(text.compare(at, id.size() + 1, id + "\n") == 0);
    }
    test::write_whole_file(spool.root() / ".names", text);
    CHECK(lookup(spool, "20261203T0415") == std::vector<std::string>{id});
    CHECK(lookup(spool, id) == std::vector<std::string>{id});
    CHECK(lookup(spool, "20261203T0416").empty());
  }
}

TEST_CASE("names_with_prefix skips what is not a live run and stops at the second match",
          "[unit][run_names]") {
  TempSpool spool;
  make_dir(spool, "job-1");
  make_dir(spool, "job-2");
  make_dir(spool, "job-3");
  test::write_whole_file(spool.root() / "job-file", "");
  std::string text(k_header);
  // Listed but gone, a file, a hidden name, a duplicate, then three live ones.
  text += "job-0\njob-file\n.job-x\njob-1\njob-1\n";
  CHECK_FALSE(std::filesystem::exists(spool.root() / "job-0"));
  test::write_whole_file(spool.root() / ".names", text);
  CHECK(lookup(spool, "job") == std::vector<std::string>{"job-1"});
  test::write_whole_file(spool.root() / ".names", text + "job-2\njob-3\n");
  CHECK(lookup(spool, "job") == std::vector<std::string>{"job-1", "job-2"});
  // A line longer than two read slices (700 KB) before the match: the window grows for it.
  test::write_whole_file(spool.root() / ".names",
                         std::string(k_header) + std::string(700'000, 'x') + "\njob-1\n");
  CHECK(lookup(spool, "job") == std::vector<std::string>{"job-1"});
  // A torn last line (a run being published) is not read.
  test::write_whole_file(spool.root() / ".names", std::string(k_header) + "job-3");
  CHECK(lookup(spool, "job").empty());
  // The first line after the header matches like any other.
  test::write_whole_file(spool.root() / ".names", std::string(k_header) + "job-3\n");
  CHECK(lookup(spool, "job") == std::vector<std::string>{"job-3"});
}

TEST_CASE("names_with_prefix refuses a file that is not a names file", "[unit][run_names]") {
  TempSpool spool;
  make_dir(spool, "job-1");
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value()); // none
  test::write_whole_file(spool.root() / ".names", "");
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value());
  test::write_whole_file(spool.root() / ".names", "chaperone-names 2\njob-1\n");
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value());
  test::write_whole_file(spool.root() / ".names", "chaperone-nam");
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value());
  std::filesystem::remove(spool.root() / ".names");
  std::filesystem::create_directory(spool.root() / ".names");
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value());
  std::filesystem::remove(spool.root() / ".names");
  std::filesystem::create_symlink(spool.scratch() / "elsewhere", spool.root() / ".names");
  test::write_whole_file(spool.scratch() / "elsewhere", "chaperone-names 1\njob-1\n");
  CHECK_FALSE(spool::names_with_prefix(root, "job").has_value()); // not followed
  std::filesystem::remove(spool.root() / ".names");
  test::write_whole_file(spool.root() / ".names", "chaperone-names 1\n");
  CHECK(spool::names_with_prefix(root, "job") == std::vector<std::string>{});
}
