// tests/unit/spool/spool_root_test.cpp: where the root is, and roots that are refused.
#include "spool/spool_root.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

using namespace chaperone;
using chaperone::test::TempSpool;

TEST_CASE("default_spool_root prefers CHAPERONE_SPOOL, then XDG_STATE_HOME, then HOME",
          "[unit][spool_root]") {
  CHECK(spool::default_spool_root("/s", "/x", "/h") == "/s");
  CHECK(spool::default_spool_root("", "/x", "/h") == "/x/chaperone/spool");
  CHECK(spool::default_spool_root(nullptr, nullptr, "/h") == "/h/.local/state/chaperone/spool");
  CHECK(spool::default_spool_root("/a/../b/", nullptr, nullptr) == "/b/");
  CHECK_THROWS_AS(spool::default_spool_root(nullptr, nullptr, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(spool::default_spool_root("relative", nullptr, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(spool::default_spool_root(nullptr, "relative", nullptr), std::invalid_argument);
}

TEST_CASE("SpoolRoot::open creates a missing root and its parents with mode 0700",
          "[unit][spool_root]") {
  TempSpool spool;
  std::filesystem::path root = spool.scratch() / "a" / "b" / "spool";
  ::umask(022);
  spool::SpoolRoot opened = spool::SpoolRoot::open(root, true);
  CHECK(opened.path() == root);
  for (const auto& dir : {spool.scratch() / "a", spool.scratch() / "a" / "b", root}) {
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  // Opening again (without create) finds it; a trailing slash is the same root.
  CHECK(spool::SpoolRoot::open(root.string() + "/", false).path() == root);
}

TEST_CASE("SpoolRoot::open without create reports a missing root as ENOENT", "[unit][spool_root]") {
  TempSpool spool;
  try {
    spool::SpoolRoot::open(spool.scratch() / "missing", false);
    FAIL("opened a missing root");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(std::string(e.what()).find("missing") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(spool.scratch() / "missing"));
}

TEST_CASE("SpoolRoot::open refuses roots another user could tamper with", "[unit][spool_root]") {
  TempSpool spool;
  std::filesystem::path root = spool.scratch() / "root";
  std::filesystem::create_directory(root);
  ::chmod(root.c_str(), 0700);
  REQUIRE_NOTHROW(spool::SpoolRoot::open(root, false));

  SECTION("a symlink to a good root") {
    std::filesystem::path link = spool.scratch() / "link";
    std::filesystem::create_directory_symlink(root, link);
    CHECK_THROWS_WITH(spool::SpoolRoot::open(link, true), Catch::Contains("symlink"));
  }
  SECTION("a group-writable root") {
    ::chmod(root.c_str(), 0770);
    CHECK_THROWS_WITH(spool::SpoolRoot::open(root, true), Catch::Contains("writable"));
  }
  SECTION("a world-writable root") {
    ::chmod(root.c_str(), 0707);
    CHECK_THROWS_WITH(spool::SpoolRoot::open(root, true), Catch::Contains("writable"));
  }
  SECTION("a regular file") {
    std::filesystem::path file = spool.scratch() / "file";
    test::write_whole_file(file, "");
    CHECK_THROWS_AS(spool::SpoolRoot::open(file, true), std::system_error);
    CHECK_THROWS_AS(spool::SpoolRoot::open(file / "sub", true), std::system_error);
  }
}

TEST_CASE("SpoolRoot::open refuses a root owned by another user", "[unit][spool_root]") {
  test::skip_unless_root(); // chown to another user
  TempSpool spool;
  std::filesystem::path root = spool.scratch() / "root";
  std::filesystem::create_directory(root);
  ::chmod(root.c_str(), 0700);
  REQUIRE(::chown(root.c_str(), 65534, 65534) == 0);
  CHECK_THROWS_WITH(spool::SpoolRoot::open(root, true), Catch::Contains("owned by uid 65534"));
}
