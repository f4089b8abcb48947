// tests/agent/servers.hpp: the real callback server (tests/agent/callback_server.py, python3
// http.server) and a throwaway CA made with openssl, for the agent tests.
#pragma once

#include "tests/support/temp_spool.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace chaperone::test {

struct CommandResult {
  int exit_code = -1;
  std::string out; // stdout and stderr together
};

// Runs argv (PATH lookup), stdout+stderr captured, to completion.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::string& stdin_path = "/dev/null");

// A CA and a server certificate for 127.0.0.1 (subjectAltName IP), made with openssl.
struct TestCa {
  explicit TestCa(const std::filesystem::path& dir);
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
};

struct ServerOptions {
  std::vector<std::string> extra; // callback_server.py options (--fail-first 5, ...)
  const TestCa* tls = nullptr;    // HTTPS with this CA's server certificate
  std::string token;              // required bearer token; empty: none checked
};

// callback_server.py on 127.0.0.1, an ephemeral port; SIGKILLed (by pid) and reaped when
// destroyed.
class CallbackServer {
public:
  CallbackServer(const std::filesystem::path& dir, ServerOptions options = {});
  CallbackServer(const CallbackServer&) = delete;
  CallbackServer& operator=(const CallbackServer&) = delete;
  CallbackServer(CallbackServer&&) = delete;
  CallbackServer& operator=(CallbackServer&&) = delete;
  ~CallbackServer();

  int port() const { return m_port; }
  // "http(s)://127.0.0.1:PORT/PREFIX"
  std::string url(const std::string& prefix) const;
  // What the server reassembled for PREFIX's stream ("stdout"/"stderr"); "" if nothing.
  std::string received(const std::string& prefix, const std::string& stream) const;
  // Its size, without reading it: for polls (a gated program's output grows by 4 MB/s, and a
  // poll that read it whole every few milliseconds took minutes under ASan).
  std::uint64_t received_size(const std::string& prefix, const std::string& stream) const;
  // One entry per accepted `completed` request for PREFIX (parsed JSON bodies).
  std::vector<nlohmann::json> completed(const std::string& prefix) const;
  // Gaps the server refused for PREFIX (should stay empty).
  std::string gaps(const std::string& prefix) const;
  // requests.log lines.
  std::vector<std::string> requests() const;

private:
  std::string file(const std::string& prefix, const std::string& suffix) const;
  std::filesystem::path m_dir;
  bool m_tls = false;
  pid_t m_pid = -1;
  int m_port = 0;
};

// Path of tests/agent/ in the source tree.
std::string agent_test_dir();

// The chaperone-callback processes serving the run in `run_dir` (by /proc cmdline; a dying
// process may already show an empty cmdline: see sender_lock_free).
std::vector<pid_t> sender_pids(const std::filesystem::path& run_dir);

// True if nobody holds the run's callback.lock (probed with flock, released at once).
bool sender_lock_free(const std::filesystem::path& run_dir);

} // namespace chaperone::test
