// tests/fuzz/fuzz_targets.cpp: the properties checked on arbitrary input.
#include "tests/fuzz/fuzz_targets.hpp"

#include "cmdbuild/marker.hpp"
#include "spool/atomic_file.hpp"
#include "spool/run_dir.hpp"
#include "spool/run_id.hpp"
#include "spool/state.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace chaperone::fuzz {

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    (void)std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// One scratch run directory per process, reused for every input, removed at the process's
// exit (a crash leaves it, with the input that caused it).
class ScratchRun {
public:
  ScratchRun() : m_run(make_dir(), "fuzz-run") {}
  ScratchRun(const ScratchRun&) = delete;
  ScratchRun& operator=(const ScratchRun&) = delete;
  ScratchRun(ScratchRun&&) = delete;
  ScratchRun& operator=(ScratchRun&&) = delete;
  ~ScratchRun() {
    std::error_code ignored;
    std::filesystem::remove_all(m_run.path(), ignored);
  }
  const spool::RunDir& run() const { return m_run; }

private:
  static std::string make_dir() {
    std::string templ = (std::filesystem::temp_directory_path() / "chap-fuzz.XXXXXX").string();
    check(::mkdtemp(templ.data()) != nullptr, "mkdtemp");
    return templ;
  }
  spool::RunDir m_run;
};

const spool::RunDir& scratch_run() {
  static const ScratchRun scratch;
  return scratch.run();
}

} // namespace

void state_parser(std::string_view input) {
  bool parsed = false;
  try {
    nlohmann::json json = nlohmann::json::parse(input);
    spool::RunState state = spool::RunState::from_json(json);
    parsed = true;
    // Whatever was accepted must survive a write/read cycle unchanged in its core fields.
    nlohmann::json again = nlohmann::json::parse(
        state.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    spool::RunState reread = spool::RunState::from_json(again);
    check(reread.state == state.state, "state survives a round trip");
    check(reread.exit_code == state.exit_code, "exit_code survives a round trip");
    check(reread.stdout_bytes == state.stdout_bytes, "output length survives a round trip");
    (void)state.cli_exit_code();
  } catch (const nlohmann::json::exception&) {
  } catch (const std::runtime_error&) {
  }
  // read_state reads without a tree (from_text): the same verdict, the same state.
  std::string from_tree;
  try {
    from_tree = spool::RunState::from_json(nlohmann::json::parse(input)).to_text();
  } catch (const nlohmann::json::exception&) {
    from_tree = "not JSON";
  } catch (const std::runtime_error& e) {
    from_tree = std::string("refused: ") + e.what();
  }
  std::string from_text;
  try {
    from_text = spool::RunState::from_text(input).to_text();
  } catch (const spool::RunState::NotJson&) {
    from_text = "not JSON";
  } catch (const std::runtime_error& e) {
    from_text = std::string("refused: ") + e.what();
  }
  check(from_text == from_tree, "from_text reads what from_json reads");
  // Through the file as well, for one input in 16: each write is fsync'ed, which would
  // otherwise dominate the run time.
  if (input.size() % 16 != 0) {
    return;
  }
  const spool::RunDir& run = scratch_run();
  spool::write_file_atomically(run.file(spool::k_state_file), input);
  try {
    run.read_state();
    check(parsed, "read_state accepts only what from_json accepts");
  } catch (const std::runtime_error& e) {
    check(std::string(e.what()).find("fuzz-run") != std::string::npos, "error names the run");
  }
}

void marker_filter(std::string_view input) {
  if (input.empty()) {
    return;
  }
  size_t chunk = 1 + static_cast<unsigned char>(input[0]) % 17;
  std::string_view program = input.substr(1);
  const std::string nonce = "0123456789abcdef";
  // Program bytes alone: passed through exactly, whatever they hold.
  {
    cmdbuild::MarkerFilter filter(nonce);
    std::string out;
    for (size_t i = 0; i < program.size(); i += chunk) {
      out += filter.feed(program.substr(i, chunk));
    }
    out += filter.finish();
    bool forged = program.find("\nchaperone-marker " + nonce + " ") != std::string_view::npos;
    if (!forged) {
      check(out == program, "program bytes pass through unchanged");
    }
  }
  // Our markers spliced in at a position chosen by the input: removed, the rest intact.
  {
    size_t at = program.empty() ? 0 : static_cast<unsigned char>(input[0]) % (program.size() + 1);
    std::string mixed = std::string(program.substr(0, at))
                        + cmdbuild::marker_line(nonce, "pid 42 42")
                        + std::string(program.substr(at)) + cmdbuild::marker_line(nonce, "exit 7");
    cmdbuild::MarkerFilter filter(nonce);
    std::string out;
    for (size_t i = 0; i < mixed.size(); i += chunk) {
      out += filter.feed(std::string_view(mixed).substr(i, chunk));
    }
    out += filter.finish();
    // Only the program's own copy of our needle can make this fail; look-alikes (another
    // nonce, a missing newline, a truncated tag) must pass through untouched.
    bool forged = program.find("\nchaperone-marker " + nonce + " ") != std::string_view::npos;
    if (!forged) {
      check(out == program, "markers are stripped and nothing else");
      check(filter.exit_code() == 7, "exit marker parsed");
      check(filter.pid() == 42, "pid marker parsed");
    }
  }
}

void run_name(std::string_view input) {
  if (spool::run_id_problem(input)) {
    return;
  }
  check(!input.empty() && input.size() <= spool::k_max_run_id_length, "length bounded");
  check(input.front() != '.' && input.front() != '-', "no hidden or option-like names");
  for (char c : input) {
    auto byte = static_cast<unsigned char>(c);
    check(byte > 0x20 && byte < 0x7f && c != '/' && c != '\\', "printable ASCII, no separators");
  }
  check(std::filesystem::path(std::string(input)).filename() == std::string(input),
        "one path component");
}

} // namespace chaperone::fuzz
