// tests/unit/spool/run_list_test.cpp: listing runs and naming one by id, name or prefix.
#include "spool/run_list.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/unit/spool/spool_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace chaperone;
using chaperone::test::TempSpool;

namespace {

std::vector<std::string> sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

} // namespace

TEST_CASE("list_run_ids lists run directories and skips hidden entries, files and symlinks",
          "[unit][run_list]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  CHECK(spool::list_run_ids(root).empty());
  test::FixtureRun a = test::make_run(spool, "alpha");
  test::FixtureRun b = test::make_run(spool, "beta");
  std::filesystem::create_directory(spool.root() / ".staging.XXXX");
  test::write_whole_file(spool.root() / "stray-file", "");
  std::filesystem::create_directory_symlink(spool.scratch(), spool.root() / "planted-link");
  CHECK(sorted(spool::list_run_ids(root)) == std::vector<std::string>{"alpha", "beta"});
}

TEST_CASE("find_run resolves exact ids, names and unique prefixes", "[unit][run_list]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  test::FixtureRun r1 = test::make_run(spool, "20261125T100000.000001Z-aaaaaa");
  test::FixtureRun r2 = test::make_run(spool, "20261125T100000.000002Z-bbbbbb");
  test::FixtureRun named = test::make_run(spool, "nightly");
  test::FixtureRun named_longer = test::make_run(spool, "nightly-2");

  CHECK(spool::find_run(root, "20261125T100000.000001Z-aaaaaa").run_id()
        == "20261125T100000.000001Z-aaaaaa");
  CHECK(spool::find_run(root, "20261125T100000.000002").run_id()
        == "20261125T100000.000002Z-bbbbbb");
  CHECK(spool::find_run(root, "20261125T100000.000002").path()
        == spool.root() / "20261125T100000.000002Z-bbbbbb");
  // An exact match wins over being a prefix of another id.
  CHECK(spool::find_run(root, "nightly").run_id() == "nightly");
  CHECK(spool::find_run(root, "nightly-").run_id() == "nightly-2");
}

TEST_CASE("find_run reports an ambiguous prefix with its candidates", "[unit][run_list]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  test::FixtureRun r1 = test::make_run(spool, "job-1");
  test::FixtureRun r2 = test::make_run(spool, "job-2");
  CHECK_THROWS_WITH(spool::find_run(root, "job"),
                    Catch::Contains("ambiguous") && Catch::Contains("job-1")
                        && Catch::Contains("job-2"));
}

TEST_CASE("find_run reports unknown and malformed ids without touching the file system outside",
          "[unit][run_list]") {
  TempSpool spool;
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  test::FixtureRun r = test::make_run(spool, "present");
  CHECK_THROWS_WITH(spool::find_run(root, "absent"), Catch::Contains("no such run: absent"));
  CHECK_THROWS_WITH(spool::find_run(root, "../scratch"), Catch::Contains("bad run id"));
  CHECK_THROWS_WITH(spool::find_run(root, ""), Catch::Contains("bad run id"));
  CHECK_THROWS_WITH(spool::find_run(root, ".hidden"), Catch::Contains("bad run id"));
  // A file or symlink planted under a run's name is not followed.
  test::write_whole_file(spool.root() / "a-file", "");
  CHECK_THROWS_WITH(spool::find_run(root, "a-file"), Catch::Contains("not a directory"));
  std::filesystem::create_directory_symlink(spool.root() / "present", spool.root() / "link");
  CHECK_THROWS_WITH(spool::find_run(root, "link"), Catch::Contains("not a directory"));
}
