// tests/unit/chaperone/supervisor_args_test.cpp: the front end writes the supervisor's
// command line with supervisor_args and the supervisor reads it back with
// parse_supervisor_args: every option must survive, whatever bytes it holds.
#include "chaperone/supervisor/supervisor.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using chaperone::parse_supervisor_args;
using chaperone::supervisor_args;
using chaperone::SupervisorOptions;
using namespace std::chrono_literals;

namespace {

void check_same(const SupervisorOptions& a, const SupervisorOptions& b) {
  CHECK(a.run_dir == b.run_dir);
  CHECK(a.lock_fd == b.lock_fd);
  CHECK(a.argv == b.argv);
  CHECK(a.cwd == b.cwd);
  CHECK(a.stdin_path == b.stdin_path);
  CHECK(a.nonce == b.nonce);
  CHECK(a.timeout == b.timeout);
  CHECK(a.kill_after == b.kill_after);
  CHECK(a.keep_children == b.keep_children);
  CHECK(a.max_output == b.max_output);
  CHECK(a.stop_on_max_output == b.stop_on_max_output);
}

} // namespace

TEST_CASE("supervisor options survive the round trip through its argv", "[unit][supervisor]") {
  SupervisorOptions options;
  options.run_dir = "/spool/20261201-221500-abcd";
  options.lock_fd = 3;
  options.argv = {"sh", "-c", "echo hi"};

  SECTION("defaults") {}
  SECTION("everything set") {
    options.cwd = "/tmp/a dir";
    options.stdin_path = "/tmp/in";
    options.nonce = "0123456789abcdef";
    options.timeout = 90s;
    options.kill_after = 2500ms;
    options.keep_children = true;
    options.max_output = 10ULL << 30;
    options.stop_on_max_output = true;
  }
  SECTION("a zero timeout is kept, not dropped") {
    options.timeout = 0ms;
    options.kill_after = 0ms;
  }
  SECTION("program arguments that look like supervisor options") {
    options.argv = {"prog", "--", "--lock-fd", "9", "--keep-children", "", "--timeout-ms"};
  }
  SECTION("bytes that need care: spaces, newlines, non-UTF-8") {
    options.cwd = std::string("/tmp/\n\xff dir", 12);
    options.argv = {"printf", std::string("a\0b", 3), "\xc3\x28", " "};
  }
  CAPTURE(supervisor_args(options));
  check_same(parse_supervisor_args(supervisor_args(options)), options);
}

TEST_CASE("a bad supervisor command line is refused naming the argument", "[unit][supervisor]") {
  auto [args, needle] = GENERATE(table<std::vector<std::string>, std::string>({
      {std::vector<std::string>{}, "run directory"},
      {{"/r", "--lock-fd", "3"}, "missing program"},
      {{"/r", "--lock-fd", "3", "--"}, "missing program"},
      {{"/r", "--", "true"}, "--lock-fd"},
      {{"/r", "--lock-fd"}, "--lock-fd needs a value"},
      {{"/r", "--lock-fd", "-1", "--", "true"}, "non-negative"},
      {{"/r", "--lock-fd", "3x", "--", "true"}, "3x"},
      {{"/r", "--lock-fd", "3", "--timeout-ms", "soon", "--", "true"}, "--timeout-ms"},
      {{"/r", "--lock-fd", "3", "--max-output", "", "--", "true"}, "--max-output"},
      {{"/r", "--lock-fd", "3", "--bogus", "--", "true"}, "--bogus"},
  }));
  CAPTURE(args);
  CHECK_THROWS_AS(parse_supervisor_args(args), std::invalid_argument);
  CHECK_THROWS_WITH(parse_supervisor_args(args), Catch::Contains(needle));
}
