// tests/agent/agent_common.hpp: helpers for `chaperone agent` tests.
#pragma once

#include "tests/agent/servers.hpp"
#include "tests/integration/common.hpp"

#include <sstream>

namespace chaperone::test {

struct AgentResult {
  RunResult result;
  nlohmann::json state; // the printed object (null if not JSON)
};

// `chaperone agent [extra...]` with `document` on stdin.
inline AgentResult run_agent(const TempSpool& spool,
                             const std::string& document,
                             const std::vector<std::string>& extra = {},
                             RunOptions options = {}) {
  static int count = 0;
  std::filesystem::path file = spool.scratch() / ("program-" + std::to_string(++count) + ".json");
  write_whole_file(file, document);
  options.stdin_path = file.string();
  std::vector<std::string> args{"agent"};
  args.insert(args.end(), extra.begin(), extra.end());
  AgentResult out{run_chaperone(spool, args, options), nullptr};
  out.state = nlohmann::json::parse(out.result.out, nullptr, false);
  return out;
}

// Starts a program through the agent; REQUIREs exit 0 and returns the printed state.
inline nlohmann::json start_agent(const TempSpool& spool, const nlohmann::json& document) {
  AgentResult r = run_agent(spool, document.dump());
  INFO("stderr: " << r.result.err << "\nstdout: " << r.result.out);
  REQUIRE(r.result.exit_code == 0);
  REQUIRE(r.state.is_object());
  return r.state;
}

// Waits until the server has accepted `completed` for `prefix`.
inline bool wait_completed(const CallbackServer& server,
                           const std::string& prefix,
                           std::chrono::milliseconds within = 60s) {
  return wait_until(deadline_in(within), "completed for " + prefix, [&] {
    return !server.completed(prefix).empty();
  });
}

// The server holds exactly the run's spool bytes, `completed` came once, no gap was seen,
// and no byte the server had acknowledged was sent again (unless `resends_allowed`: a
// sender killed between an answer and its progress record sends that batch once more).
inline void check_delivered_exactly_once(const TempSpool& spool,
                                         const CallbackServer& server,
                                         const std::string& prefix,
                                         const std::string& id,
                                         bool resends_allowed = false) {
  CHECK(server.received(prefix, "stdout") == spool.output(id, "stdout"));
  CHECK(server.received(prefix, "stderr") == spool.output(id, "stderr"));
  CHECK(server.gaps(prefix).empty());
  std::vector<nlohmann::json> completed = server.completed(prefix);
  CHECK(completed.size() == 1);
  if (!completed.empty()) {
    nlohmann::json state = spool.state(id);
    CHECK(completed[0]["proc_id"] == id);
    CHECK(completed[0]["state"] == state["state"]);
    CHECK(completed[0]["output"]["stdout"] == state["output"]["stdout"]);
    CHECK(completed[0]["output"]["stderr"] == state["output"]["stderr"]);
  }
  if (!resends_allowed) {
    for (const std::string& line : server.requests()) {
      if (line.find("/" + prefix + "/output/") == std::string::npos
          || line.find(" 200 new=") == std::string::npos) {
        continue;
      }
      std::istringstream words(line);
      std::string n, method, path, length, code, fresh;
      words >> n >> method >> path >> length >> code >> fresh;
      INFO(line);
      CHECK(fresh == "new=" + length);
    }
  }
}

// A document for `program` with a callback to `url` and fast delivery settings.
inline nlohmann::json
callback_document(const std::vector<std::string>& argv,
                  const std::string& url,
                  const nlohmann::json& extra_callback = nlohmann::json::object(),
                  const nlohmann::json& extra_config = nlohmann::json::object()) {
  nlohmann::json doc = {
      {"program",
       {{"argv", argv}, {"cwd", "/"}, {"env", nlohmann::json::object()}, {"stdin", nullptr}}},
      {"callback", {{"url", url}, {"method", "POST"}, {"token", "tok-SECRET-123"}}},
      {"config",
       {{"retry_frequency", 0.2},
        {"timeout", 600},
        {"output_buffer", 65536},
        {"output_latency", 0.1}}}};
  doc["callback"].update(extra_callback);
  doc["config"].update(extra_config);
  return doc;
}

constexpr const char* k_token = "tok-SECRET-123";

} // namespace chaperone::test
