// tests/consumer/main.cpp: launches a run through chaperone::client, follows it to its end
// and checks what the spool recorded. Usage: consumer SUPERVISOR SPOOL_ROOT
// Exits 0 and prints "consumer: ok" only if every check held.
#include "chaperone/chaperone.hpp"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Collects both streams in memory.
class StringSink final : public chaperone::spool::OutputSink {
public:
  void copy(chaperone::spool::Stream stream,
            int source_fd,
            std::uint64_t offset,
            std::uint64_t length) override {
    std::string& out = stream == chaperone::spool::Stream::out ? m_out : m_err;
    std::vector<char> buffer(length);
    std::uint64_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(
          source_fd, buffer.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n <= 0) {
        throw std::runtime_error("consumer: short read from the spool");
      }
      done += static_cast<std::uint64_t>(n);
    }
    out.append(buffer.data(), length);
  }
  const std::string& out() const { return m_out; }
  const std::string& err() const { return m_err; }

private:
  std::string m_out;
  std::string m_err;
};

bool expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
  }
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer SUPERVISOR SPOOL_ROOT\n");
    return 2;
  }
  try {
    namespace spool = chaperone::spool;
    spool::SpoolRoot root = spool::SpoolRoot::open(argv[2], true);
    chaperone::LaunchRequest request;
    request.program.argv = {"sh", "-c", "echo consumer-out; echo consumer-err >&2; exit 7"};
    request.supervisor_path = argv[1];
    chaperone::LaunchedRun launched = chaperone::launch_run(root, request);

    StringSink sink;
    spool::Follower follower(launched.run, spool::FollowOptions{}, sink);
    spool::RunState state = follower.run();

    bool ok = expect(state.state == spool::RunStatus::exited, "state is exited");
    ok = expect(state.exit_code == 7, "exit code 7") && ok;
    ok = expect(state.cli_exit_code() == 7, "cli exit code 7") && ok;
    ok = expect(sink.out() == "consumer-out\n", "stdout is \"" + sink.out() + "\"") && ok;
    ok = expect(sink.err() == "consumer-err\n", "stderr is \"" + sink.err() + "\"") && ok;
    if (!ok) {
      return 1;
    }
    std::printf("consumer: ok (run %s)\n", state.run_id.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
