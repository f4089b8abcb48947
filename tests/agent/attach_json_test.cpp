// tests/agent/attach_json_test.cpp: `attach --json`: byte-exact reassembly of random binary
// output, resuming at random offsets, invalid UTF-8, characters never cut, the final line.
#include "spool/event.hpp"
#include "tests/integration/common.hpp"

#include <signal.h>

#include <random>
#include <sstream>

using namespace chaperone::test;
namespace spool = chaperone::spool;

namespace {

struct Stream {
  std::string bytes;
  std::uint64_t start = 0;
  bool contiguous = true;
};

// Parses attach --json output; checks the shape every stream must have.
struct Parsed {
  Stream out;
  Stream err;
  std::vector<nlohmann::json> states;
  std::optional<nlohmann::json> final_state;
  int events_after_final = 0;
  int text_events = 0;
  int b64_events = 0;
  std::vector<std::string> texts;
};

Parsed parse(const std::string& output, std::uint64_t out_start, std::uint64_t err_start) {
  Parsed parsed;
  parsed.out.start = out_start;
  parsed.err.start = err_start;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    spool::Event event = spool::decode_event(line);
    if (parsed.final_state) {
      ++parsed.events_after_final;
    }
    if (event.kind == spool::EventKind::output) {
      Stream& s = event.stream == spool::Stream::out ? parsed.out : parsed.err;
      if (event.offset != s.start + s.bytes.size()) {
        s.contiguous = false;
      }
      s.bytes += event.data;
      nlohmann::json json = nlohmann::json::parse(line);
      if (json.contains("data")) {
        ++parsed.text_events;
        parsed.texts.push_back(event.data);
      } else {
        ++parsed.b64_events;
      }
    } else if (event.kind == spool::EventKind::state) {
      parsed.states.push_back(event.state);
    } else {
      parsed.final_state = event.state;
    }
  }
  return parsed;
}

} // namespace

TEST_CASE("attach --json reassembles random binary output byte for byte and ends with the state",
          "[agent][attach-json]") {
  TempSpool spool;
  std::string id = start_detached(
      spool, {writer(), "both", "21", "300000", "22", "170001"}, {"--name", "binary"});
  RunResult r = run_chaperone(spool, {"attach", "--json", id}, within(60s));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  Parsed p = parse(r.out, 0, 0);
  CHECK(p.out.contiguous);
  CHECK(p.err.contiguous);
  CHECK(p.out.bytes == pattern_bytes(21, 0, 300000));
  CHECK(p.err.bytes == pattern_bytes(22, 0, 170001));
  CHECK(p.b64_events > 0);
  REQUIRE(p.final_state);
  CHECK(p.events_after_final == 0);
  CHECK(r.out.back() == '\n');
  // The final line is state.json as `status --json` shows it (which adds the run's directory
  // and the cursor, issues 14 and 9).
  RunResult status = run_chaperone(spool, {"status", "--json", id});
  nlohmann::json shown = nlohmann::json::parse(status.out);
  CHECK(shown["cursor"] == "300000:170001");
  CHECK(shown.contains("run_dir"));
  shown.erase("cursor");
  shown.erase("run_dir");
  CHECK(*p.final_state == shown);
  CHECK((*p.final_state)["output"]["stdout"] == 300000);
}

TEST_CASE("attach --json resumed at random offsets gives exactly the rest of each stream",
          "[agent][attach-json]") {
  TempSpool spool;
  std::string id = start_detached(spool, {writer(), "both", "31", "100000", "32", "77777"});
  REQUIRE(run_chaperone(spool, {"wait", id}).exit_code == 0);
  std::mt19937_64 rng(Catch::rngSeed());
  for (int i = 0; i < 6; ++i) {
    std::uint64_t n = rng() % 100001;
    std::uint64_t m = rng() % 77778;
    INFO("stdout offset " << n << ", stderr offset " << m);
    RunResult r = run_chaperone(spool,
                                {"attach",
                                 "--json",
                                 "--stdout-offset",
                                 std::to_string(n),
                                 "--stderr-offset",
                                 std::to_string(m),
                                 id});
    CHECK(r.exit_code == 0);
    Parsed p = parse(r.out, n, m);
    CHECK(p.out.contiguous);
    CHECK(p.err.contiguous);
    CHECK(p.out.bytes == pattern_bytes(31, n, 100000 - n));
    CHECK(p.err.bytes == pattern_bytes(32, m, 77777 - m));
    CHECK(p.final_state);
  }
}

TEST_CASE("attach --json resumed from the last offsets seen mid-run gets exactly the rest",
          "[agent][attach-json]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  std::string id = start_detached(spool, {writer(), "gated", "41", gate.string(), "7"});
  // A first reader that goes away mid-run (SIGHUP: a dropped link) ...
  ChaperoneProcess first(spool, {"attach", "--json", id});
  REQUIRE(first.read_until(
      deadline_in(20s), "100 KiB of events", [&] { return first.out().size() > 150 * 1024; }));
  first.send_signal(SIGHUP);
  RunResult gone = first.finish();
  CHECK(gone.exit_code == 129);
  // ... keeps only whole lines; the next one resumes from the offsets they reached.
  std::string seen = gone.out.substr(0, gone.out.rfind('\n') + 1);
  Parsed before = parse(seen, 0, 0);
  REQUIRE(before.out.contiguous);
  CHECK_FALSE(before.final_state);
  write_whole_file(gate, "");
  RunResult rest = run_chaperone(
      spool, {"attach", "--json", "--stdout-offset", std::to_string(before.out.bytes.size()), id});
  CHECK(rest.exit_code == 7);
  Parsed after = parse(rest.out, before.out.bytes.size(), 0);
  CHECK(after.out.contiguous);
  std::string whole = before.out.bytes + after.out.bytes;
  CHECK(whole.size() == spool.output_size(id, "stdout"));
  CHECK(whole == pattern_bytes(41, 0, whole.size()));
  REQUIRE(after.final_state);
  CHECK((*after.final_state)["exit_code"] == 7);
}

TEST_CASE("attach --json sends invalid UTF-8 as data_b64 and valid text as data",
          "[agent][attach-json]") {
  TempSpool spool;
  std::string id = start_detached(
      spool,
      {"sh",
       "-c",
       R"(printf 'caf\303\251 \342\202\254\n'; printf 'bad \377\376 bytes' >&2; exit 3)"});
  RunResult r = run_chaperone(spool, {"attach", "--json", id});
  CHECK(r.exit_code == 3);
  Parsed p = parse(r.out, 0, 0);
  CHECK(p.out.bytes == "caf\xc3\xa9 \xe2\x82\xac\n");
  CHECK(p.err.bytes == "bad \xff\xfe bytes");
  CHECK(p.text_events == 1);
  CHECK(p.b64_events == 1);
  CHECK(r.out.find(R"("data":"café €\n")") != std::string::npos);
  REQUIRE(p.final_state);
  CHECK((*p.final_state)["state"] == "exited");
  CHECK((*p.final_state)["return_code"] == 3);
}

TEST_CASE("attach --json holds back a character cut by the writer until it is complete",
          "[agent][attach-json]") {
  TempSpool spool;
  std::filesystem::path gate = spool.scratch() / "gate";
  // The writer stops after the first byte of "é" until the test opens the gate.
  std::string script = "printf 'a\\303'; while [ ! -e '" + gate.string()
                       + "' ]; do sleep 0.01; done; printf '\\251b'";
  std::string id = start_detached(spool, {"sh", "-c", script});
  ChaperoneProcess attach(spool, {"attach", "--json", id});
  REQUIRE(attach.read_until(deadline_in(20s), "the event for \"a\"", [&] {
    return attach.out().find(R"("data":"a")") != std::string::npos;
  }));
  write_whole_file(gate, "");
  RunResult r = attach.finish();
  CHECK(r.exit_code == 0);
  Parsed p = parse(r.out, 0, 0);
  CHECK(p.out.contiguous);
  CHECK(p.out.bytes
        == "a\xc3\xa9"
           "b");
  CHECK(p.b64_events == 0);
  CHECK(p.texts
        == std::vector<std::string>{"a",
                                    "\xc3\xa9"
                                    "b"});
  // The run was seen running before it ended: one state event, then the final line.
  bool saw_running = false;
  for (const nlohmann::json& state : p.states) {
    saw_running = saw_running || state["state"] == "running";
  }
  CHECK(saw_running);
  REQUIRE(p.final_state);
}
