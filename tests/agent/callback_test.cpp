// tests/agent/callback_test.cpp: callbacks delivered to real servers on 127.0.0.1 (python3
// http.server over HTTP, and HTTPS with a CA made by openssl): every byte once, in order,
// `completed` once, through 500s, a server down for the first 30 s, a hanging server, and a
// SIGKILLed sender or supervisor; and the sender's watches leave the program's writes alone.
#include "tests/agent/agent_common.hpp"
#include "tests/support/process_info.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace chaperone::test;
using nlohmann::json;

namespace {

// Random binary output on both streams, paced (4 KiB writes) so that delivery happens
// while the program runs.
std::vector<std::string> binary_program(std::uint64_t out_bytes, std::uint64_t err_bytes) {
  return {writer(), "both", "51", std::to_string(out_bytes), "52", std::to_string(err_bytes)};
}

} // namespace

TEST_CASE("callbacks over HTTP deliver random binary output exactly once and completed once",
          "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  // A small buffer: many batches per stream.
  json state = start_agent(spool,
                           callback_document(binary_program(300000, 123457),
                                             server.url("runs/http"),
                                             json::object(),
                                             {{"output_buffer", 10000}}));
  std::string id = state["proc_id"];
  REQUIRE(wait_completed(server, "runs/http"));
  check_delivered_exactly_once(spool, server, "runs/http", id);
  CHECK(spool.output(id, "stdout") == pattern_bytes(51, 0, 300000));
  CHECK(server.completed("runs/http")[0]["return_code"] == 0);
  // Batches respect output_buffer.
  int batches = 0;
  for (const std::string& line : server.requests()) {
    if (line.find("/output/") != std::string::npos) {
      ++batches;
      std::istringstream words(line);
      std::string n, method, path;
      std::uint64_t length = 0;
      words >> n >> method >> path >> length;
      CHECK(length <= 10000);
      CHECK(method == "POST");
    }
  }
  CHECK(batches >= 43);
  // Once done the sender exits; the delivery progress is in the run dir, the mark is gone.
  REQUIRE(wait_until(deadline_in(10s), "the sender to exit", [&] {
    return sender_pids(spool.run_dir(id)).empty() && sender_lock_free(spool.run_dir(id));
  }));
  json progress = json::parse(read_whole_file(spool.run_dir(id) / "callback.progress"));
  CHECK(progress["completed"] == true);
  CHECK(progress["stdout"] == 300000);
  CHECK_FALSE(std::filesystem::exists(spool.root() / ".callbacks" / id));
}

TEST_CASE("callbacks over HTTPS verify the server against callback.ca_file", "[agent][callback]") {
  TempSpool spool;
  TestCa ca(spool.scratch());
  CallbackServer server(spool.base() / "server", {{}, &ca, k_token});
  json doc = callback_document({"sh", "-c", "echo secure; echo line2 >&2; exit 4"},
                               server.url("tls"),
                               {{"ca_file", ca.ca_cert.string()}, {"method", "PUT"}});
  std::string id = start_agent(spool, doc)["proc_id"];
  REQUIRE(wait_completed(server, "tls"));
  check_delivered_exactly_once(spool, server, "tls", id);
  CHECK(server.received("tls", "stdout") == "secure\n");
  CHECK(server.completed("tls")[0]["return_code"] == 4);
  for (const std::string& line : server.requests()) {
    CHECK(line.find(" PUT ") != std::string::npos);
  }
}

TEST_CASE("callbacks over HTTPS refuse a server the system CAs do not vouch for",
          "[agent][callback]") {
  TempSpool spool;
  TestCa ca(spool.scratch());
  CallbackServer server(spool.base() / "server", {{}, &ca, k_token});
  std::string id =
      start_agent(spool, callback_document({"echo", "x"}, server.url("untrusted")))["proc_id"];
  // The sender keeps retrying and records why; the server never gets a request through.
  REQUIRE(wait_until(deadline_in(30s), "a recorded certificate failure", [&] {
    std::filesystem::path progress = spool.run_dir(id) / "callback.progress";
    if (!std::filesystem::exists(progress)) {
      return false;
    }
    json p = json::parse(read_whole_file(progress));
    return p["failed_attempts"].get<int>() >= 2 && p["last_error"].is_string();
  }));
  json p = json::parse(read_whole_file(spool.run_dir(id) / "callback.progress"));
  INFO(p.dump());
  CHECK_THAT(p["last_error"].get<std::string>(),
             Catch::Contains("certificate") || Catch::Contains("SSL"));
  CHECK(server.requests().empty());
  CHECK(p["stdout"] == 0);
}

TEST_CASE("callbacks survive a server that answers 500 for a while", "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{"--fail-first", "8"}, nullptr, k_token});
  std::string id = start_agent(spool,
                               callback_document(binary_program(50000, 20000),
                                                 server.url("flaky"),
                                                 json::object(),
                                                 {{"output_buffer", 8192}}))["proc_id"];
  REQUIRE(wait_completed(server, "flaky"));
  check_delivered_exactly_once(spool, server, "flaky", id);
  int failures = 0;
  for (const std::string& line : server.requests()) {
    failures += line.find(" 500") != std::string::npos ? 1 : 0;
  }
  CHECK(failures == 8);
}

TEST_CASE("callbacks wait out a server that is down for the first 30 s", "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{"--down-seconds", "30"}, nullptr, k_token});
  auto started = Clock::now();
  std::string id = start_agent(spool,
                               callback_document(binary_program(40000, 30000),
                                                 server.url("down"),
                                                 json::object(),
                                                 {{"retry_frequency", 1}}))["proc_id"];
  // The run itself is not held up by its callbacks.
  REQUIRE(run_chaperone(spool, {"wait", id}).exit_code == 0);
  CHECK(Clock::now() - started < 20s);
  REQUIRE(wait_until(deadline_in(20s), "failed attempts recorded", [&] {
    std::filesystem::path progress = spool.run_dir(id) / "callback.progress";
    return std::filesystem::exists(progress)
           && json::parse(read_whole_file(progress))["failed_attempts"].get<int>() >= 2;
  }));
  REQUIRE(wait_completed(server, "down", 60s));
  CHECK(Clock::now() - started >= 29s);
  check_delivered_exactly_once(spool, server, "down", id);
}

TEST_CASE("callbacks give up on a hanging request after request_timeout and send it again",
          "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{"--hang-first", "2"}, nullptr, k_token});
  std::string id = start_agent(spool,
                               callback_document(binary_program(30000, 1000),
                                                 server.url("hang"),
                                                 {{"request_timeout", 1}}))["proc_id"];
  REQUIRE(wait_completed(server, "hang", 60s));
  check_delivered_exactly_once(spool, server, "hang", id);
  int hung = 0;
  for (const std::string& line : server.requests()) {
    hung += line.find(" hang") != std::string::npos ? 1 : 0;
  }
  CHECK(hung == 2);
}

TEST_CASE("a SIGKILLed sender is restarted by the next command that looks at the run",
          "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  std::filesystem::path gate = spool.scratch() / "gate";
  json doc = callback_document({writer(), "gated", "61", gate.string(), "5"},
                               server.url("killsender"),
                               json::object(),
                               {{"output_buffer", 16384}});
  std::string id = start_agent(spool, doc)["proc_id"];
  std::filesystem::path dir = spool.run_dir(id);
  for (const char* command : {"status", "ls", "attach"}) {
    INFO("restarted by " << command);
    // Kill it mid-delivery, once it has delivered something.
    std::uint64_t before = server.received_size("killsender", "stdout");
    REQUIRE(wait_until(deadline_in(20s), "more delivered", [&] {
      return server.received_size("killsender", "stdout") > before + 100000;
    }));
    std::vector<pid_t> pids = sender_pids(dir);
    REQUIRE(pids.size() == 1);
    REQUIRE(::kill(pids[0], SIGKILL) == 0);
    // Its cmdline empties (exit_mm) before its files close (exit_files): until the lock is
    // free too, the next command would rightly find a sender still holding it.
    REQUIRE(wait_until(deadline_in(10s), "the sender to die and its lock to be free", [&] {
      return sender_pids(dir).empty() && sender_lock_free(dir);
    }));
    std::uint64_t at_kill = server.received_size("killsender", "stdout");
    std::vector<std::string> args{command};
    if (std::string(command) != "ls") {
      args.push_back(id);
    }
    if (std::string(command) == "attach") {
      args = {"attach", "--tail", "0", id};
      write_whole_file(gate, ""); // let the run end so that attach returns
    }
    RunResult r = run_chaperone(spool, args);
    INFO("stderr: " << r.err);
    INFO("callback.log: " << read_whole_file(dir / "callback.log"));
    CHECK(r.err.empty());
    if (std::string(command) != "attach") {
      REQUIRE(wait_until(deadline_in(10s), "delivery to resume", [&] {
        return server.received_size("killsender", "stdout") > at_kill + 50000;
      }));
    }
  }
  REQUIRE(wait_completed(server, "killsender"));
  CHECK(spool.state(id)["exit_code"] == 5);
  check_delivered_exactly_once(spool, server, "killsender", id, true);
}

TEST_CASE("a SIGKILLed supervisor: the sender records the run lost and delivers it all",
          "[agent][callback]") {
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  std::filesystem::path gate = spool.scratch() / "gate";
  json state = start_agent(
      spool,
      callback_document({writer(), "gated", "71", gate.string(), "0"}, server.url("killsup")));
  std::string id = state["proc_id"];
  REQUIRE(wait_until(deadline_in(20s), "delivery under way", [&] {
    return server.received_size("killsup", "stdout") > 100000;
  }));
  REQUIRE(::kill(state["agent_pid"].get<pid_t>(), SIGKILL) == 0);
  REQUIRE(wait_completed(server, "killsup"));
  CHECK(spool.state(id)["state"] == "lost");
  CHECK(server.completed("killsup")[0]["state"] == "lost");
  check_delivered_exactly_once(spool, server, "killsup", id);
}

TEST_CASE("removing the run stops its sender", "[agent][callback]") {
  TempSpool spool;
  // No server listens on this port: the sender retries until the run is gone.
  CallbackServer server(spool.base() / "server", {{"--down-seconds", "600"}, nullptr, k_token});
  std::string id =
      start_agent(spool, callback_document({"echo", "x"}, server.url("gone")))["proc_id"];
  REQUIRE(wait_until(
      deadline_in(10s), "a sender", [&] { return !sender_pids(spool.run_dir(id)).empty(); }));
  REQUIRE(run_chaperone(spool, {"wait", id}).exit_code == 0);
  std::filesystem::path dir = spool.run_dir(id);
  // A sender that is retrying, and has recorded so: it rewrites callback.progress after every
  // attempt, which must never make a name in the dir that is being removed (`rm -rf` would
  // fail with "Directory not empty").
  REQUIRE(wait_until(deadline_in(10s), "a failed attempt recorded", [&] {
    return json::parse(read_whole_file(dir / "callback.progress"))["failed_attempts"].get<int>()
           >= 1;
  }));
  spool.remove_run(id);
  // The sender notices at its next retry, clears the run's pending mark and exits.
  REQUIRE(wait_until(deadline_in(10s), "the sender to stop", [&] {
    return !std::filesystem::exists(spool.root() / ".callbacks" / id) && sender_pids(dir).empty();
  }));
}

TEST_CASE("a callback sender watches stdout and stderr with one-shot watches and the run dir only "
          "for the dir's own events",
          "[agent][callback][regression]") {
  // The sender's run dir watch asked for IN_MODIFY: the kernel then marks every child of the
  // dir, and each write(2) of the program walked to the dir and queued an event (a program
  // writing 128-byte lines used +80% CPU, docs/bench/PROFILE-2026-12-02d.md).
  constexpr std::uint32_t k_child_events =
      IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN;
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  std::filesystem::path gate = spool.scratch() / "gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  std::string id = start_agent(spool,
                               callback_document({"sh",
                                                  "-c",
                                                  "echo first; echo oops >&2; read x < \"$0\"; "
                                                  "echo second",
                                                  gate.string()},
                                                 server.url("masks")))["proc_id"];
  std::filesystem::path dir = spool.run_dir(id);
  // Delivered while the program waits: the appends woke the sender, not the run's end.
  REQUIRE(wait_until(deadline_in(30s), "the first lines delivered", [&] {
    return server.received("masks", "stdout") == "first\n"
           && server.received("masks", "stderr") == "oops\n";
  }));
  std::vector<pid_t> pids = sender_pids(dir);
  REQUIRE(pids.size() == 1);
  // Once it has looked again after delivering, both one-shots are armed.
  std::vector<InotifyWatch> watches;
  REQUIRE(wait_until(deadline_in(20s), "the sender to arm its stream watches", [&] {
    watches = inotify_watches(pids[0]);
    return watches_on(watches, (dir / "stdout").string()).size() == 1
           && watches_on(watches, (dir / "stderr").string()).size() == 1;
  }));
  for (const char* name : {"stdout", "stderr"}) {
    INFO(name);
    std::vector<InotifyWatch> on_file = watches_on(watches, (dir / name).string());
    REQUIRE(on_file.size() == 1);
    CHECK(on_file[0].mask == (IN_MODIFY | IN_ONESHOT));
  }
  std::vector<InotifyWatch> on_dir = watches_on(watches, dir.string());
  REQUIRE(on_dir.size() == 1);
  INFO("dir mask " << std::hex << on_dir[0].mask);
  CHECK((on_dir[0].mask & k_child_events) == 0);
  CHECK((on_dir[0].mask & IN_MOVED_TO) != 0);
  {
    int fd = ::open(gate.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  REQUIRE(wait_completed(server, "masks"));
  check_delivered_exactly_once(spool, server, "masks", id);
  CHECK(server.received("masks", "stdout") == "first\nsecond\n");
}

TEST_CASE("a callback sender delivers each append of a program that writes only once the server "
          "has the last one",
          "[agent][callback]") {
  // Each line is written right after the server stored the one before, that is while the
  // sender records its progress and arms its one-shot watch again: a line that raised no event
  // and that the sender's look after arming missed would wait for the run's end, and the
  // program gives up (exit 1) after 10 s without it.
  TempSpool spool;
  CallbackServer server(spool.base() / "server", {{}, nullptr, k_token});
  std::filesystem::path received = spool.base() / "server" / "paced.stdout";
  std::string script = R"sh(
    for i in $(seq 1 40); do
      echo "line $i"
      want=$(stat -L -c %s /proc/$$/fd/1)
      n=0
      while [ "$(stat -c %s "$0" 2>/dev/null || echo 0)" != "$want" ];
  do
    n = $((n + 1)); [ $n -gt 1000 ] && exit 1
        sleep 0.01
      done
    done)sh";
  std::string id = start_agent(spool,
                               callback_document({"sh", "-c", script, received.string()},
                                                 server.url("paced"),
                                                 json::object(),
                                                 {{"output_latency", 0.01}}))["proc_id"];
  REQUIRE(wait_completed(server, "paced"));
  check_delivered_exactly_once(spool, server, "paced", id);
  CHECK(server.completed("paced")[0]["return_code"] == 0);
  std::string expected;
  for (int i = 1; i <= 40; ++i) {
    expected += "line " + std::to_string(i) + "\n";
  }
  CHECK(server.received("paced", "stdout") == expected);
}
