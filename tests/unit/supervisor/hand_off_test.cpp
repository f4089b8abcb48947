// tests/unit/supervisor/hand_off_test.cpp: the hand-off's words on the command line, and an
// exec into the hold image that fails (the successful one is tests/integration/hold_test.cpp).
#include "chaperone/supervisor/hand_off.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace chaperone {
namespace {

bool close_on_exec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  REQUIRE(flags >= 0);
  return (flags & FD_CLOEXEC) != 0;
}

} // namespace

TEST_CASE("resume words round-trip and leave RUN_DIR first and the rest in place",
          "[unit][supervisor][hand-off]") {
  ResumePoint point;
  point.supervisor_fd = 7;
  point.hold_fd = 8;
  point.held_fds = {5, 6};
  point.deadline_ns = 123'456'789'012;
  point.release.first_kept = true;
  point.release.first_to_empty = true;
  std::vector<std::string> args{"/spool/run"};
  std::vector<std::string> words = resume_args(point);
  args.insert(args.end(), words.begin(), words.end());
  args.insert(args.end(), {"--lock-fd", "3", "--", "sleep", "--resume"});

  std::optional<ResumePoint> back = take_resume_args(args);
  REQUIRE(back);
  CHECK(back->supervisor_fd == 7);
  CHECK(back->hold_fd == 8);
  CHECK(back->held_fds == std::vector<int>{5, 6});
  CHECK(back->deadline_ns == 123'456'789'012);
  CHECK(back->release.first_kept);
  CHECK(back->release.first_to_empty);
  CHECK(args
        == std::vector<std::string>{"/spool/run", "--lock-fd", "3", "--", "sleep", "--resume"});
}

TEST_CASE("resume words without locks or deadline round-trip as none",
          "[unit][supervisor][hand-off]") {
  ResumePoint point;
  point.supervisor_fd = 4;
  point.hold_fd = 5;
  std::vector<std::string> args{"/spool/run"};
  std::vector<std::string> words = resume_args(point);
  args.insert(args.end(), words.begin(), words.end());
  std::optional<ResumePoint> back = take_resume_args(args);
  REQUIRE(back);
  CHECK(back->held_fds.empty());
  CHECK_FALSE(back->deadline_ns);
  CHECK_FALSE(back->release.first_kept);
  CHECK(args == std::vector<std::string>{"/spool/run"});
}

TEST_CASE("a supervisor command line without --resume is left alone",
          "[unit][supervisor][hand-off]") {
  // "--resume" of the program's argv is not the supervisor's.
  std::vector<std::string> args{"/spool/run", "--lock-fd", "3", "--", "x", "--resume", "1"};
  std::vector<std::string> before = args;
  CHECK_FALSE(take_resume_args(args));
  CHECK(args == before);
}

TEST_CASE("bad resume words are refused, naming the word", "[unit][supervisor][hand-off]") {
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"/r", "--resume", "1", "images=3"},
        std::vector<std::string>{"/r", "--resume", "2", "images=3,4", "held=5,x"},
        std::vector<std::string>{"/r", "--resume", "2", "images=3,4", "colour=blue"},
        std::vector<std::string>{"/r", "--resume", "3", "images=3,4"},
        std::vector<std::string>{"/r", "--resume", "1", "held=5"}}) {
    std::vector<std::string> args = bad;
    CHECK_THROWS_AS(take_resume_args(args), std::invalid_argument);
  }
  std::vector<std::string> args{"/r", "--resume", "2", "images=3,4", "deadline_ns=soon"};
  CHECK_THROWS_WITH(take_resume_args(args), Catch::Contains("deadline_ns=soon"));
}

TEST_CASE("an exec into a hold image that is no program returns why and keeps fds private",
          "[unit][supervisor][hand-off]") {
  HoldImages images;
  images.supervisor = spool::Fd{::open("/proc/self/exe", O_PATH | O_CLOEXEC)};
  images.hold = spool::Fd{::open("/dev/null", O_PATH | O_CLOEXEC)};
  REQUIRE(images.valid());
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  spool::Fd lock{pipe_fds[0]};
  spool::Fd other{pipe_fds[1]};
  HandOff hand_off;
  hand_off.keep_fds = {lock.get()};
  hand_off.program_pgid = 12345;
  hand_off.log = "/nonexistent/supervisor.log";
  hand_off.supervisor_argv = {"chaperone-supervisor", "/spool/run"};
  std::string error = exec_hold(images, hand_off);
  CHECK(error == "execveat /dev/null: Permission denied");
  // Made inheritable for the exec, close-on-exec again after it failed.
  CHECK(close_on_exec(lock.get()));
  CHECK(close_on_exec(images.supervisor.get()));
  CHECK(close_on_exec(images.hold.get()));
}

TEST_CASE("no hold image is found beside a binary that has none", "[unit][supervisor][hand-off]") {
  HoldImages images = open_hold_images();
  CHECK(images.supervisor.valid()); // this test binary
  CHECK_FALSE(images.hold.valid());
  CHECK_FALSE(images.valid());
}

} // namespace chaperone
