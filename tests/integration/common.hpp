// tests/integration/common.hpp: small helpers shared by the integration suites.
#pragma once

#include "tests/support/harness.hpp"
#include "tests/support/pattern.hpp"
#include "tests/support/process_info.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_spool.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace chaperone::test {

// The test program (tests/support/test_writer.cpp).
inline std::string writer() {
  return CHAPERONE_TEST_WRITER;
}

// Options with just a deadline.
inline RunOptions within(std::chrono::milliseconds deadline) {
  RunOptions options;
  options.deadline = deadline;
  return options;
}

// `run -d [extra...] -- argv...`; REQUIREs exit 0 and returns the printed id.
inline std::string start_detached(const TempSpool& spool,
                                  const std::vector<std::string>& program,
                                  const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"run", "-d"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.emplace_back("--");
  args.insert(args.end(), program.begin(), program.end());
  RunResult r = run_chaperone(spool, args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(!r.out.empty());
  REQUIRE(r.out.back() == '\n');
  return r.out.substr(0, r.out.size() - 1);
}

// state.json without what differs from one run of the same program to the next (pids, start
// ticks, times, resource usage figures), for comparing two runs' outcomes.
inline nlohmann::json comparable_state(nlohmann::json st) {
  for (const char* key : {"supervisor_pid",
                          "supervisor_start_ticks",
                          "pid",
                          "pgid",
                          "pid_start_ticks",
                          "start_time",
                          "end_time",
                          "boot_id"}) {
    if (st.contains(key)) {
      st[key] = "-";
    }
  }
  if (st.contains("signals_sent")) {
    for (nlohmann::json& sent : st["signals_sent"]) {
      sent["time"] = "-";
    }
  }
  if (st["rusage"].is_object()) {
    for (auto& [key, value] : st["rusage"].items()) {
      value = "-";
    }
  }
  return st;
}

// Waits until state.json says `state` is one of `wanted`.
inline bool wait_for_state(const TempSpool& spool,
                           const std::string& id,
                           const std::vector<std::string>& wanted,
                           std::chrono::milliseconds within = 20s) {
  return wait_until(deadline_in(within), "run " + id + " to reach state " + wanted.front(), [&] {
    std::string state = spool.state(id).value("state", "");
    for (const std::string& w : wanted) {
      if (state == w) {
        return true;
      }
    }
    return false;
  });
}

inline bool is_final_state(const std::string& state) {
  return state != "starting" && state != "running";
}

// An attached `run --name NAME` whose program (sh) waits on a fifo in the scratch dir: running
// when the constructor returns, it ends (exit 0) once release() writes a line to the fifo.
class GatedAttachedRun {
public:
  GatedAttachedRun(const TempSpool& spool, const std::string& name)
      : m_gate(spool.scratch() / (name + ".gate")) {
    REQUIRE(::mkfifo(m_gate.c_str(), 0600) == 0);
    m_front = std::make_unique<ChaperoneProcess>(
        spool,
        std::vector<std::string>{
            "run", "--name", name, "--", "sh", "-c", "read x < \"$0\"", m_gate.string()},
        within(std::chrono::seconds(30)));
    // The attached front end publishes the run a moment after it starts.
    REQUIRE(
        wait_until(deadline_in(std::chrono::seconds(20)), "run " + name + " to be running", [&] {
          return std::filesystem::exists(spool.run_dir(name) / "state.json")
                 && spool.state(name).value("state", "") == "running";
        }));
  }

  ChaperoneProcess& front() { return *m_front; }

  // Lets the program end; returns the front end's result, REQUIRing exit 0.
  RunResult release() {
    int fd = ::open(m_gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
    RunResult r = m_front->finish();
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  }

private:
  std::filesystem::path m_gate;
  std::unique_ptr<ChaperoneProcess> m_front;
};

} // namespace chaperone::test
