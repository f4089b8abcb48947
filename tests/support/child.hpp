// tests/support/child.hpp: the child-spawning helper of the suites that run plain commands
// (test-sshd, ssh masters, ssh-keygen, sudo, the composed argvs): posix_spawn with stdin,
// stdout and stderr on pipes, its own process group, and a deadline that fails the test.
// (The front end under test is driven by ChaperoneProcess, harness.hpp; the fault tests
// start hundreds at once with output to files, faults_common.hpp.)
#pragma once

#include "cmdbuild/marker.hpp"
#include "tests/support/wait_until.hpp"

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace chaperone::test {

using Argv = std::vector<std::string>;

struct Outcome {
  int status = 0;  // raw waitpid status
  std::string out; // stdout
  std::string err; // stderr, raw (markers included)
  int exit_code() const;
  int term_signal() const; // 0 unless killed by a signal
};

// A child with stdin, stdout and stderr on pipes, in its own process group.
class Child {
public:
  // `filter`, if given, receives stderr as it arrives; it must outlive the Child.
  explicit Child(const Argv& argv,
                 std::string input = {},
                 cmdbuild::MarkerFilter* filter = nullptr);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&&) = delete;
  Child& operator=(Child&&) = delete;
  ~Child(); // kills the group and reaps if still running

  pid_t pid() const { return m_pid; }
  // Reads both pipes until `done()` holds or both reach EOF. Fails the test at the deadline.
  template <typename Pred> void read_until(Pred done, Clock::duration timeout);
  // Reads both pipes to EOF, then reaps. Fails the test at the deadline.
  Outcome finish(Clock::duration timeout);
  std::string filtered_err() const { return m_filtered; }

private:
  bool pump(Clock::time_point deadline); // one poll round; false at EOF of both

  pid_t m_pid = -1;
  int m_in = -1;
  int m_out = -1;
  int m_err = -1;
  std::string m_input;
  std::size_t m_written = 0;
  Outcome m_outcome;
  std::string m_filtered;
  cmdbuild::MarkerFilter* m_filter = nullptr;
};

template <typename Pred> void Child::read_until(Pred done, Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (!done()) {
    if (!pump(deadline)) {
      break;
    }
  }
}

// Runs argv to completion with `input` on stdin.
Outcome run(const Argv& argv,
            const std::string& input = {},
            Clock::duration timeout = std::chrono::seconds(60));

// Human-readable rendering of a byte string for failure messages: printable ASCII as is,
// anything else as \xNN, in double quotes.
std::string show(const std::string& bytes);

} // namespace chaperone::test
