// tests/unit/supervisor/process_title_test.cpp: set_process_title() in a forked child, read
// back from /proc by the parent as `ps` and `pgrep -f` read it.
#include "chaperone/supervisor/process_title.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace chaperone {
namespace {

std::string read_proc(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) {
    text += word;
    text.push_back('\0');
  }
  return text;
}

TEST_CASE("set_process_title gives /proc/PID/cmdline, environ and comm the new values",
          "[process-title]") {
  std::vector<std::string> argv{"/usr/libexec/chaperone/chaperone-supervisor",
                                "/spool/20261203T000000.000000Z-abcdef",
                                "--lock-fd",
                                "3",
                                "--",
                                "sleep",
                                "a word with spaces"};
  std::string long_value(5000, 'v'); // longer than any area the kernel gave us at exec
  std::vector<std::string> env_words{"PATH=/usr/bin:/bin", "LONG=" + long_value, "EMPTY="};
  std::vector<char*> env;
  for (std::string& word : env_words) {
    env.push_back(word.data());
  }
  env.push_back(nullptr);
  int ready[2];
  int release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(release[1]); // the parent's close of its copy is our go
    std::string error = set_process_title(argv, env.data());
    char result = error.empty() ? 'y' : 'n';
    (void)!::write(ready[1], &result, 1);
    char wait = 0;
    (void)!::read(release[0], &wait, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char result = 0;
  REQUIRE(::read(ready[0], &result, 1) == 1);
  CHECK(result == 'y');
  CHECK(read_proc(child, "cmdline") == joined(argv));
  CHECK(read_proc(child, "environ") == joined(env_words));
  CHECK(read_proc(child, "comm") == "chaperone-super\n");
  ::close(release[1]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  ::close(ready[0]);
}

TEST_CASE("set_process_title refuses an empty argv and changes nothing", "[process-title]") {
  std::string before = read_proc(::getpid(), "cmdline");
  char* no_env[] = {nullptr};
  CHECK_FALSE(set_process_title({}, no_env).empty());
  CHECK(read_proc(::getpid(), "cmdline") == before);
}

} // namespace
} // namespace chaperone
