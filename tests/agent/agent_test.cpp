// tests/agent/agent_test.cpp: `chaperone agent`: program.json in, the seed's state object
// out; --state and --wait; stdin data; SIGTERM to agent_pid; config.timeout; strict
// validation naming the JSON path with nothing created; the token kept out of every file.
#include "tests/agent/agent_common.hpp"

#include <signal.h>
#include <sys/stat.h>

using namespace chaperone::test;
using nlohmann::json;

namespace {

json plain_document(const std::vector<std::string>& argv) {
  return {
      {"program",
       {{"argv", argv}, {"cwd", "/tmp"}, {"env", {{"GREETING", "hi there"}}}, {"stdin", nullptr}}}};
}

} // namespace

TEST_CASE("agent starts the program and prints the seed's state object", "[agent]") {
  TempSpool spool;
  json state =
      start_agent(spool, plain_document({"sh", "-c", "echo \"$GREETING from $(pwd)\"; exit 3"}));
  for (const char* key : {"proc_id",
                          "state",
                          "program",
                          "agent_pid",
                          "pid",
                          "exception",
                          "status",
                          "return_code",
                          "signal",
                          "rusage",
                          "start_time",
                          "end_time"}) {
    INFO(key);
    CHECK(state.contains(key));
  }
  std::string id = state["proc_id"];
  CHECK(spool.run_ids() == std::vector<std::string>{id});
  CHECK(state["state"] != "starting");
  CHECK(state["program"]["argv"][0] == "sh");
  CHECK(state["program"]["cwd"] == "/tmp");
  CHECK(state["program"]["env"] == json{{"GREETING", "hi there"}});
  CHECK(state["program"]["stdin"].is_null());
  CHECK(state["agent_pid"] == spool.state(id)["supervisor_pid"]);
  CHECK(state["pid"].is_number());

  RunResult waited = run_chaperone(spool, {"agent", "--state", id, "--wait"});
  CHECK(waited.exit_code == 0);
  json final_state = json::parse(waited.out);
  CHECK(final_state["proc_id"] == id);
  CHECK(final_state["state"] == "exited");
  CHECK(final_state["return_code"] == 3);
  CHECK(final_state["status"] == 3 << 8);
  CHECK(final_state["signal"].is_null());
  CHECK(final_state["exception"].is_null());
  CHECK(final_state["rusage"].is_object());
  CHECK(final_state["end_time"].is_string());
  CHECK(spool.output(id, "stdout") == "hi there from /tmp\n");
  // --state without --wait: the same object, whatever the state.
  RunResult again = run_chaperone(spool, {"agent", "--state", id});
  CHECK(json::parse(again.out) == final_state);
}

TEST_CASE("agent gives a stdin string to the program, kept 0600 in the run dir", "[agent]") {
  TempSpool spool;
  json doc = plain_document({"sh", "-c", "cat; echo; wc -c"});
  std::string data = "line one\nline \xc3\xa9 two";
  doc["program"]["stdin"] = data;
  json state = start_agent(spool, doc);
  std::string id = state["proc_id"];
  REQUIRE(run_chaperone(spool, {"wait", id}).exit_code == 0);
  CHECK(spool.output(id, "stdout").rfind(data + "\n0\n", 0) == 0);
  struct stat st {};
  REQUIRE(::stat((spool.run_dir(id) / "stdin").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(state["program"]["stdin"]["bytes"] == data.size());
}

TEST_CASE("SIGTERM to agent_pid ends the program with SIGTERM: recorded signaled", "[agent]") {
  TempSpool spool;
  json state = start_agent(spool, plain_document({"sleep", "300"}));
  std::string id = state["proc_id"];
  REQUIRE(state["state"] == "running");
  REQUIRE(::kill(state["agent_pid"].get<pid_t>(), SIGTERM) == 0);
  RunResult waited = run_chaperone(spool, {"agent", "--state", id, "--wait"}, within(30s));
  json final_state = json::parse(waited.out);
  CHECK(final_state["state"] == "signaled");
  CHECK(final_state["signal"] == SIGTERM);
  CHECK(final_state["status"] == SIGTERM);
}

TEST_CASE("config.timeout ends the program: recorded timed_out", "[agent]") {
  TempSpool spool;
  json doc = plain_document({"sleep", "300"});
  doc["config"] = {{"timeout", 0.5}, {"kill_after", 1}};
  json state = start_agent(spool, doc);
  RunResult waited =
      run_chaperone(spool, {"agent", "--state", state["proc_id"], "--wait"}, within(30s));
  CHECK(json::parse(waited.out)["state"] == "timed_out");
  CHECK(json::parse(waited.out)["exit_code"] == 124);
}

TEST_CASE("agent refuses bad documents naming the JSON path, creating nothing", "[agent]") {
  struct Case {
    std::string document;
    std::string message;
  };
  std::string callback = R"("callback":{"url":"https://127.0.0.1:1/x","token":"tok-SECRET-123"})";
  std::vector<Case> cases = {
      {"not json at all tok-SECRET-123", "program.json is not JSON"},
      {"[1]", "program.json: expected an object"},
      {R"({"program":{"argv":["true"]},"bogus":1})", "bogus: unknown key"},
      {R"({"program":{"argv":["true"],"extra":1}})", "program.extra: unknown key"},
      {R"({})", "program: missing"},
      {R"({"program":{"argv":[]}})", "program.argv: must not be empty"},
      {R"({"program":{"argv":"true"}})", "program.argv: expected an array"},
      {R"({"program":{"argv":["true",3]}})", "program.argv[1]: expected a string"},
      {R"({"program":{"argv":["true"],"cwd":"relative/dir"}})",
       "program.cwd: expected an absolute path"},
      {R"({"program":{"argv":["true"],"env":{"HOME":1}}})", "program.env.HOME: expected a string"},
      {R"({"program":{"argv":["true"],"env":[]}})", "program.env: expected an object"},
      {R"({"program":{"argv":["true"],"stdin":5}})", "program.stdin: expected a string"},
      {R"({"program":{"argv":["true"]},"config":{"retry_frequency":-1}})",
       "config.retry_frequency: expected a number of seconds > 0"},
      {R"({"program":{"argv":["true"]},"config":{"timeout":-5}})", "config.timeout"},
      {R"({"program":{"argv":["true"]},"config":{"output_buffer":0}})",
       "config.output_buffer: expected a positive integer"},
      {R"({"program":{"argv":["true"]},"config":{"output_latency":"1"}})",
       "config.output_latency: expected a number"},
      {R"({"program":{"argv":["true"]},"callback":{"url":"http://example.com/x","token":"tok-SECRET-123"}})",
       "callback.url: plain http is allowed only to a loopback address"},
      {R"({"program":{"argv":["true"]},"callback":{"url":"ftp://127.0.0.1/x"}})",
       "callback.url: expected an http:// or https:// URL"},
      {R"({"program":{"argv":["true"]},"callback":{"url":"https://127.0.0.1/x","method":"GET"}})",
       "callback.method: expected \"POST\" or \"PUT\""},
      {R"({"program":{"argv":["true"]},"callback":{"url":"https://127.0.0.1/x","token":7}})",
       "callback.token: expected a string"},
      {R"({"program":{"argv":["true"]},"callback":{"url":"https://127.0.0.1/x","ca_file":"ca.pem"}})",
       "callback.ca_file: expected an absolute path"},
      {R"({"program":{"argv":["true"]},"name":"../up"})", "name:"},
      {R"({"program":{"argv":["true"],"cwd":"/nonexistent-dir-xyz"},)" + callback + "}",
       "/nonexistent-dir-xyz"},
  };
  for (const Case& c : cases) {
    TempSpool spool;
    INFO("document: " << c.document);
    AgentResult r = run_agent(spool, c.document);
    CHECK(r.result.exit_code == 125);
    CHECK(r.result.out.empty());
    std::vector<std::string> lines = r.result.err_lines();
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0], Catch::StartsWith("chaperone: ") && Catch::Contains(c.message));
    CHECK(lines[0].find(k_token) == std::string::npos);
    // Nothing created: no run, no pending-callback mark.
    CHECK(spool.run_ids().empty());
    for (const std::string& entry : spool.listing()) {
      CHECK(entry.rfind(".callbacks", 0) != 0);
    }
  }
}

TEST_CASE("the callback token appears in no file of the run but its own 0600 file", "[agent]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  json state = start_agent(
      spool, callback_document({"sh", "-c", "echo out; echo err >&2"}, server.url("tok")));
  std::string id = state["proc_id"];
  REQUIRE(wait_completed(server, "tok"));
  std::filesystem::path dir = spool.run_dir(id);
  // The supervisor removes its .state.reserve a moment after the final state: list the
  // directory once nothing changes it any more.
  REQUIRE(
      wait_until(deadline_in(30s), "the supervisor to let go", [&] { return run_lock_free(dir); }));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    INFO(entry.path());
    std::string text = read_whole_file(entry.path());
    if (entry.path().filename() == "callback.token") {
      CHECK(text == k_token);
      struct stat st {};
      REQUIRE(::stat(entry.path().c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
    } else {
      CHECK(text.find(k_token) == std::string::npos);
    }
  }
  CHECK(json::parse(run_chaperone(spool, {"status", "--json", id}).out).dump().find(k_token)
        == std::string::npos);
}
