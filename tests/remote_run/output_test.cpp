// tests/remote_run/output_test.cpp: output through ssh arrives byte-exact, stdout and stderr
// apart, and the far side's status markers never reach the spool's files.
#include "tests/remote_run/fixture.hpp"

using namespace chaperone::test;

namespace {

constexpr std::uint64_t k_big = 50ULL * 1024 * 1024 + 12345; // not a multiple of any buffer

void check_no_marker(const TempSpool& spool, const std::string& id) {
  for (const char* stream : {"stdout", "stderr"}) {
    INFO(stream);
    CHECK(spool.output(id, stream).find("chaperone-marker") == std::string::npos);
  }
}

} // namespace

TEST_CASE("50 MB of stdout through ssh arrive byte-exact in the spool file and on the attached "
          "front end",
          "[ssh]") {
  TempSpool spool;
  const std::uint64_t seed = 7001;
  PatternChecker attached(seed);
  RunOptions options;
  options.deadline = 90s;
  options.on_stdout = [&](std::string_view chunk) { attached.feed(chunk); };
  RunResult r = run_chaperone(
      spool,
      run_args(sshd().options({Via::ssh, "chapbash"}),
               {sshd().writer(), "pattern", std::to_string(seed), std::to_string(k_big)}),
      options);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out_bytes == k_big);
  CHECK(attached.offset() == k_big);
  CHECK(attached.ok());
  std::string id = spool.only_run_id();
  CHECK(spool.output_size(id, "stdout") == k_big);
  PatternChecker file = check_file_against_pattern(spool.run_dir(id) / "stdout", seed);
  CHECK(file.offset() == k_big);
  CHECK(file.ok());
  CHECK(spool.output_size(id, "stderr") == 0);
  nlohmann::json state = spool.state(id);
  CHECK(state["state"] == "exited");
  CHECK(state["output"]["stdout"] == k_big);
}

TEST_CASE("stdout and stderr of a remote program stay apart and exact through every ssh mode",
          "[ssh][sudo]") {
  for (Via via : ssh_vias()) {
    INFO(to_string(via));
    TempSpool spool;
    const std::uint64_t out_bytes = 6ULL * 1024 * 1024 + 3;
    const std::uint64_t err_bytes = 5ULL * 1024 * 1024 + 7;
    std::string id = start_detached(spool,
                                    sshd().options({via, "chapzsh"}),
                                    {sshd().writer(),
                                     "both",
                                     "11",
                                     std::to_string(out_bytes),
                                     "12",
                                     std::to_string(err_bytes)});
    nlohmann::json state = wait_final_state(spool, id, 60s);
    INFO("state.json: " << state.dump());
    CHECK(state["state"] == "exited");
    CHECK(state["return_code"] == 0);
    PatternChecker out = check_file_against_pattern(spool.run_dir(id) / "stdout", 11);
    PatternChecker err = check_file_against_pattern(spool.run_dir(id) / "stderr", 12);
    CHECK(out.offset() == out_bytes);
    CHECK(out.ok());
    CHECK(err.offset() == err_bytes);
    CHECK(err.ok());
    check_no_marker(spool, id);
  }
}

TEST_CASE("a remote program's stderr without a final newline is kept exactly with no marker text",
          "[ssh]") {
  TempSpool spool;
  Args options = sshd().options({Via::ssh, "chapfish"});
  struct Case {
    std::string script;
    int exit_code;
  };
  // Unterminated last lines, a lone "\n", binary bytes, a partial "chaperone-marker" prefix.
  // NOLINTBEGIN(modernize-raw-string-literal): printf escapes next to the bytes they make
  const std::vector<std::pair<std::string, std::string>> tails{
      {"printf 'no newline' >&2", "no newline"},
      {"printf 'a\\nb' >&2", "a\nb"},
      {"printf '\\n' >&2", "\n"},
      {"printf '\\nchaperone-mark' >&2", "\nchaperone-mark"},
      {"printf '\\377\\000\\r' >&2", std::string("\xff\0\r", 3)},
      {"true", ""},
  };
  // NOLINTEND(modernize-raw-string-literal)
  int n = 0;
  for (const auto& [script, expected] : tails) {
    for (const Case& end : {Case{"exit 0", 0}, Case{"exit 3", 3}, Case{"kill -TERM $$", 143}}) {
      std::string name = "t" + std::to_string(++n);
      INFO(script << "; " << end.script);
      Args named{"--name", name};
      named.insert(named.end(), options.begin(), options.end());
      RunResult r = run_chaperone(spool, run_args(named, {"sh", "-c", script + "; " + end.script}));
      CHECK(r.exit_code == end.exit_code);
      CHECK(r.out.empty());
      CHECK(show_bytes(spool.output(name, "stderr")) == show_bytes(expected));
      CHECK(spool.output(name, "stdout").empty());
      CHECK(r.err.find("chaperone-marker ") == std::string::npos);
    }
  }
}

TEST_CASE("marker look-alikes with another nonce are the program's own stderr and change nothing",
          "[ssh]") {
  TempSpool spool;
  // A forged status line (wrong nonce) must neither be stripped nor taken as the status.
  std::string forged = "\nchaperone-marker AAAAAAAAAAAAAAAA exit 0\n"
                       "chaperone-marker BBBBBBBBBBBBBBBB pid 1 1\n"
                       "\nchaperone-marker signal 9\n";
  RunResult r =
      run_chaperone(spool,
                    run_args(sshd().options({Via::ssh, "chapsh"}),
                             {"sh", "-c", "printf '%s' \"$1\" >&2; exit 7", "sh", forged}));
  CHECK(r.exit_code == 7);
  std::string id = spool.only_run_id();
  CHECK(show_bytes(spool.output(id, "stderr")) == show_bytes(forged));
  nlohmann::json state = spool.state(id);
  INFO(state.dump());
  CHECK(state["state"] == "exited");
  CHECK(state["return_code"] == 7);
  CHECK(state["remote"]["pid"] != 1);
}

TEST_CASE("with a login whose locale the far side lacks (fish), the far perl's start-up warning "
          "never reaches the spool and a far program's own perl warning does",
          "[ssh][sudo]") {
  for (Via via : ssh_vias()) {
    INFO(to_string(via));
    TempSpool spool;
    // fish exports LC_CTYPE=en_US.UTF-8, which this machine lacks: the far side's perl, started
    // without PERL_BADLANG, complains before the wrapper's first marker (the unit test of the
    // far line shows it does), and the run's filter drops exactly that.
    Args quiet{"--name", "quiet"};
    Args options = sshd().options({via, "chapfish"});
    quiet.insert(quiet.end(), options.begin(), options.end());
    RunResult q = run_chaperone(spool, run_args(quiet, {"sh", "-c", "echo err >&2; exit 4"}));
    INFO("run stderr: " << show_bytes(q.err));
    CHECK(q.exit_code == 4);
    CHECK(show_bytes(spool.output("quiet", "stderr")) == show_bytes("err\n"));
    // After the "pid" marker every byte is the program's, perl's warnings too.
    Args own{"--name", "own", "--env", "LC_ALL=xx_XX.UTF-8"};
    own.insert(own.end(), options.begin(), options.end());
    RunResult o = run_chaperone(spool, run_args(own, {"perl", "-e", "exit 5"}));
    CHECK(o.exit_code == 5);
    std::string err = spool.output("own", "stderr");
    INFO("stderr: " << show_bytes(err));
    CHECK(err.rfind("perl: warning: Setting locale failed", 0) == 0);
    CHECK(err.find("chaperone-marker") == std::string::npos);
  }
}
