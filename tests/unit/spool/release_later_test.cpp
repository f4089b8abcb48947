// tests/unit/spool/release_later_test.cpp: ReleaseLater's position, carried over to a fresh one
// as a supervisor resumed from its hold image does (chaperone/supervisor/hand_off.hpp).
#include "spool/release_later.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace chaperone;
using namespace chaperone::test;

TEST_CASE("a ReleaseLater restored from a position names and empties as the first one would",
          "[unit][spool][release-later]") {
  TempSpool spool;
  std::filesystem::path run = spool.scratch();
  std::filesystem::path first = run / spool::ReleaseLater::k_first_replaced;
  write_whole_file(first, "{\"state\": \"starting\"}\n");

  spool::ReleaseLater before;
  CHECK(before.position().first_kept == false);
  CHECK(before.position().first_to_empty == false);
  CHECK(std::string(before.kept_name(false)) == spool::ReleaseLater::k_first_replaced);
  before.empty_later(first);
  spool::ReleaseLater::Position position = before.position();
  CHECK(position.first_kept);
  CHECK(position.first_to_empty);

  spool::ReleaseLater after;
  after.restore(position, run);
  // The first replaced state is kept already: the next one is not, the final one is.
  CHECK(std::string(after.kept_name(false)).empty());
  CHECK(std::string(after.kept_name(true)) == spool::ReleaseLater::k_last_replaced);
  CHECK(std::filesystem::file_size(first) > 0);
  after.release();
  CHECK(std::filesystem::file_size(first) == 0); // emptied, as `before` would have
}

TEST_CASE("a ReleaseLater restored from a fresh position keeps the first state it replaces",
          "[unit][spool][release-later]") {
  TempSpool spool;
  spool::ReleaseLater after;
  after.restore(spool::ReleaseLater().position(), spool.scratch());
  CHECK(std::string(after.kept_name(false)) == spool::ReleaseLater::k_first_replaced);
}
