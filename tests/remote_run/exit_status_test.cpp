// tests/remote_run/exit_status_test.cpp: the program's own exit status through every mode,
// attached and detached, and what state.json records about the far side while it runs.
#include "tests/remote_run/fixture.hpp"

#include <filesystem>

using namespace chaperone::test;

namespace {

struct Outcome {
  std::string script; // for sh -c
  int exit_code;
  std::optional<int> signal;
};

const std::vector<Outcome> k_outcomes{
    {"exit 0", 0, std::nullopt},
    {"exit 1", 1, std::nullopt},
    {"exit 42", 42, std::nullopt},
    {"exit 255", 255, std::nullopt},
    {"exit 137", 137, std::nullopt}, // the same number as a death by KILL: still an exit
    {"kill -TERM $$", 143, 15},
    {"kill -KILL $$", 137, 9},
};

void check_state(const nlohmann::json& state, const Outcome& o, const Route& route) {
  INFO("state.json: " << state.dump());
  if (o.signal) {
    CHECK(state.value("state", "") == "signaled");
    CHECK(state["signal"] == *o.signal);
    CHECK(state["return_code"].is_null());
  } else {
    // The program's own 255 is its exit code, not a failure of ssh.
    CHECK(state.value("state", "") == "exited");
    CHECK(state["return_code"] == o.exit_code);
    CHECK(state["error"].is_null());
  }
  CHECK(state["exit_code"] == o.exit_code);
  CHECK(state["target"]["mode"] == to_string(route.via));
}

// Every outcome through `route`, attached (the front end's exit code) and detached (the
// exit code of `wait`), with the run's stdout and stderr exact in the spool.
void check_outcomes(const Route& route) {
  TempSpool spool;
  Args options = sshd().options(route);
  int n = 0;
  for (const Outcome& o : k_outcomes) {
    for (bool detached : {false, true}) {
      std::string name = "r" + std::to_string(++n);
      INFO(to_string(route.via) << " as " << route.login << ": sh -c '" << o.script << "', "
                                << (detached ? "detached + wait" : "attached"));
      // stderr without a final newline: the status marker that follows must not add one.
      std::string script = "echo out ";
      script.append(name)
          .append("; printf 'err %s' ")
          .append(name)
          .append(" >&2; ")
          .append(o.script);
      Args program{"sh", "-c", script};
      Args named{"--name", name};
      named.insert(named.end(), options.begin(), options.end());
      if (detached) {
        start_detached(spool, named, program);
        RunResult w = run_chaperone(spool, {"wait", name});
        INFO("wait stderr: " << w.err);
        CHECK(w.exit_code == o.exit_code);
      } else {
        RunResult r = run_chaperone(spool, run_args(named, program));
        INFO("run stderr: " << show_bytes(r.err));
        CHECK(r.exit_code == o.exit_code);
        CHECK(r.out == "out " + name + "\n");
        CHECK(r.err.find("err " + name) != std::string::npos);
        CHECK(r.err.find("chaperone-marker") == std::string::npos);
      }
      nlohmann::json state = wait_final_state(spool, name);
      check_state(state, o, route);
      CHECK(spool.output(name, "stdout") == "out " + name + "\n");
      CHECK(show_bytes(spool.output(name, "stderr")) == show_bytes("err " + name));
    }
  }
}

} // namespace

TEST_CASE("a remote program's exit codes 0 1 42 255 and its death by TERM or KILL come back "
          "through ssh attached and detached",
          "[ssh]") {
  check_outcomes({Via::ssh, "chapsh"});
}

TEST_CASE("a remote program's exit codes and signals come back through ssh-then-sudo",
          "[ssh][sudo]") {
  check_outcomes({Via::ssh_then_sudo, "chapbash"});
}

TEST_CASE("a remote program's exit codes and signals come back through sudo-then-ssh",
          "[ssh][sudo]") {
  check_outcomes({Via::sudo_then_ssh, "chapzsh"});
}

TEST_CASE("a program's exit codes and signals come back through local sudo", "[sudo]") {
  check_outcomes({Via::sudo, "chapsh"});
}

TEST_CASE("exit 255 over a fresh connection (no control master) is the program's and not a failure",
          "[ssh]") {
  TempSpool spool;
  Route route{Via::ssh, "chapbash", false};
  RunResult r = run_chaperone(spool, run_args(sshd().options(route), {"sh", "-c", "exit 255"}));
  CHECK(r.exit_code == 255);
  nlohmann::json state = spool.state(spool.only_run_id());
  INFO(state.dump());
  CHECK(state["state"] == "exited");
  CHECK(state["return_code"] == 255);
  CHECK(state["ssh_exit_status"] == 255);
}

TEST_CASE("state.json records the target and the far side's pid and group while the program runs",
          "[ssh][sudo]") {
  std::string shared = sshd().shared_dir();
  for (Via via : ssh_vias()) {
    Route route{via, via == Via::sudo_then_ssh ? "chapfish" : "chapbash"};
    INFO(to_string(via));
    TempSpool spool;
    std::string token = random_token();
    std::string gate = shared;
    gate.append("/gate-").append(token);
    Args options{"--env", token_env(token)};
    Args rest = sshd().options(route);
    options.insert(options.end(), rest.begin(), rest.end());
    std::string id = start_detached(
        spool,
        options,
        {"sh", "-c", "echo ready; while [ ! -e \"$1\" ]; do sleep 0.05; done", "sh", gate});
    nlohmann::json state = wait_remote_recorded(spool, id);
    INFO("state.json: " << state.dump());
    CHECK(state["state"] == "running");
    const nlohmann::json& target = state["target"];
    CHECK(target["mode"] == to_string(via));
    CHECK(target["host"] == "127.0.0.1");
    CHECK(target["port"] == sshd().port());
    if (via == Via::sudo_then_ssh) {
      CHECK(target["sudo_user"] == route.login);
    } else {
      CHECK(target["login"] == route.login);
      CHECK(target["sudo_user"] == (via == Via::ssh ? "" : sshd().sudo_target()));
    }
    const nlohmann::json& remote = state["remote"];
    CHECK(remote["host"] == "127.0.0.1");
    pid_t pid = remote["pid"].get<pid_t>();
    REQUIRE(remote["pgid"].is_number());
    CHECK(remote["pgid"].get<pid_t>() == pid); // the program leads its own group
    CHECK(state["status_nonce"].is_string());
    // The far side is this machine: the recorded pid is the program, as the far user.
    CHECK(process_running(pid));
    CHECK(owner_of(pid) == uid_of(far_user(route)));
    std::vector<std::string> far = far_processes(token);
    bool found = false;
    for (const std::string& line : far) {
      found = found || line.rfind(std::to_string(pid) + " ", 0) == 0;
    }
    INFO("far processes: " << far.size());
    CHECK(found);
    // The local pid is the ssh (or sudo) client, not the far program.
    CHECK(state["pid"] != pid);

    write_whole_file(gate, "", 0644);
    nlohmann::json final_state = wait_final_state(spool, id);
    INFO("final state.json: " << final_state.dump());
    CHECK(final_state["state"] == "exited");
    CHECK(final_state["return_code"] == 0);
    CHECK(final_state["ssh_exit_status"] == 0);
    CHECK(final_state["remote"]["pid"] == pid);
    CHECK(spool.output(id, "stdout") == "ready\n");
  }
}

TEST_CASE("a detached remote run is followed by attach and tail and shown by status and ls like a "
          "local one",
          "[ssh]") {
  TempSpool spool;
  std::string gate = sshd().shared_dir() + "/gate";
  std::string token = random_token();
  Args options{"--env", token_env(token), "--name", "follow-me"};
  Args rest = sshd().options({Via::ssh, "chapzsh"});
  options.insert(options.end(), rest.begin(), rest.end());
  std::string id = start_detached(
      spool,
      options,
      {"sh",
       "-c",
       "echo one; echo e1 >&2; while [ ! -e \"$1\" ]; do sleep 0.05; done; echo two; exit 5",
       "sh",
       gate});
  CHECK(id == "follow-me");
  REQUIRE(wait_until(
      deadline_in(20s), "the first line", [&] { return spool.output(id, "stdout") == "one\n"; }));
  wait_remote_recorded(spool, id);

  RunResult status = run_chaperone(spool, {"status", "--json", id});
  REQUIRE(status.exit_code == 0);
  nlohmann::json shown = nlohmann::json::parse(status.out);
  CHECK(shown["state"] == "running");
  CHECK(shown["remote"]["pid"].is_number());
  CHECK(shown["target"]["mode"] == "ssh");
  RunResult ls = run_chaperone(spool, {"ls"});
  CHECK(ls.out.find(id) != std::string::npos);
  CHECK(ls.out.find("running") != std::string::npos);
  RunResult tail = run_chaperone(spool, {"tail", id});
  CHECK(tail.out == "one\n");

  ChaperoneProcess attach(spool, {"attach", id});
  CHECK(attach.read_until(
      deadline_in(20s), "attach to print the first line", [&] { return attach.out() == "one\n"; }));
  write_whole_file(gate, "", 0644);
  RunResult attached = attach.finish();
  INFO("attach stderr: " << attached.err);
  CHECK(attached.exit_code == 5);
  CHECK(attached.out == "one\ntwo\n");
  CHECK(attached.err.find("e1") != std::string::npos);
  CHECK(attached.err.find("chaperone-marker") == std::string::npos);
  nlohmann::json state = wait_final_state(spool, id);
  CHECK(state["state"] == "exited");
  CHECK(state["return_code"] == 5);
  CHECK(run_chaperone(spool, {"tail", "-n", "1", id}).out == "two\n");
  CHECK(run_chaperone(spool, {"tail", "--stream", "stderr", id}).out == "e1\n");
}
