// tests/remote_run/argv_test.cpp: hostile argv, cwd and env values through the whole CLI
// (`chaperone run` -> spec -> supervisor -> ssh -> login shell -> far side) for every login
// shell, compared byte for byte with what tests/tools/argv_dump received.
#include "tests/remote_run/fixture.hpp"

#include <sys/stat.h>

using namespace chaperone::test;
using std::string_literals::operator""s;

namespace {

// NOLINTBEGIN(modernize-raw-string-literal): escapes read better in a table of bytes
const Args k_odd{
    ""s,
    " "s,
    "a b"s,
    "  two  spaces  "s,
    "'"s,
    "\""s,
    "\\"s,
    "a\\'b"s,
    "'\\''"s,
    "$HOME"s,
    "${HOME}"s,
    "$(id)"s,
    "`id`"s,
    "$"s,
    "\n"s,
    "a\nb\n"s,
    "\t"s,
    "\r\n"s,
    "*"s,
    "?"s,
    "a[b]"s,
    "{a,b}"s,
    "~"s,
    "~root"s,
    "=ls"s,
    "-n"s,
    "-e"s,
    "--"s,
    "-oProxyCommand=x"s,
    "%s"s,
    "!"s,
    "!!"s,
    "#"s,
    "a#b"s,
    ";"s,
    "&"s,
    "|"s,
    "<"s,
    ">"s,
    "(x)"s,
    "^"s,
    "\xff\xfe"s,
    "\xc0\x80"s,
    "caf\xc3\xa9 \xe6\xbc\xa2"s,
    "\x01"s,
    "\x1b[31m"s,
    "\x7f"s,
    "\\n"s,
    "end\\"s,
    "$'\\n'"s,
    "\xff"s,
};
// NOLINTEND(modernize-raw-string-literal)

const std::string k_odd_value = "v a'l\"u\\e $x `y` \n\t\xff end"s;

std::string field(const std::string& s) {
  return s + std::string(1, '\0');
}

// What argv_dump prints for `args` run in `cwd` with ARGV_DUMP_ENV=ODD_VALUE,ODD_EMPTY,ODD_UNSET.
std::string expected_dump(const std::string& cwd, const Args& args) {
  std::string out = field("cwd") + field(cwd);
  out += field("env") + field("ODD_VALUE") + field("=" + k_odd_value);
  out += field("env") + field("ODD_EMPTY") + field("=");
  out += field("env") + field("ODD_UNSET") + field("-");
  out += field("argc") + field(std::to_string(args.size()));
  for (const std::string& a : args) {
    out += field(a);
  }
  return out;
}

// The first differing byte, for a readable failure.
std::string first_difference(const std::string& want, const std::string& got) {
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) {
    ++i;
  }
  std::size_t from = i < 40 ? 0 : i - 40;
  return "differs at byte " + std::to_string(i) + ": want ..." + show_bytes(want.substr(from, 80))
         + ", got ..." + show_bytes(got.substr(from, 80));
}

void check_route(const TempSpool& spool, const Route& route, const std::string& cwd, int& n) {
  std::string name = "a" + std::to_string(++n);
  INFO(to_string(route.via) << " as " << route.login << " (run " << name << ")");
  Args options{"--name",
               name,
               "--env",
               "ARGV_DUMP_ENV=ODD_VALUE,ODD_EMPTY,ODD_UNSET",
               "--env",
               "ODD_VALUE=" + k_odd_value,
               "--env",
               "ODD_EMPTY=",
               "--cwd",
               cwd};
  Args rest = sshd().options(route);
  options.insert(options.end(), rest.begin(), rest.end());
  Args program{sshd().argv_dump()};
  program.insert(program.end(), k_odd.begin(), k_odd.end());
  RunResult r = run_chaperone(spool, run_args(options, program));
  INFO("front end stderr: " << show_bytes(r.err));
  CHECK(r.exit_code == 0);
  std::string want = expected_dump(cwd, k_odd);
  if (r.out != want) {
    FAIL_CHECK("attached stdout " << first_difference(want, r.out));
  }
  std::string file = spool.output(name, "stdout");
  if (file != want) {
    FAIL_CHECK("spool stdout " << first_difference(want, file));
  }
  CHECK(spool.output(name, "stderr").empty());
}

} // namespace

TEST_CASE("odd argv and cwd and env bytes reach the far program exactly through ssh for every "
          "login shell",
          "[ssh]") {
  std::string cwd = sshd().shared_dir() + "/odd dir 'q' \"d\" $x `y` \\ \t\xff\xc3\xa9";
  REQUIRE(::mkdir(cwd.c_str(), 0755) == 0);
  TempSpool spool;
  int n = 0;
  for (const std::string& user : sshd().users()) {
    check_route(spool, {Via::ssh, user}, cwd, n);
  }
}

TEST_CASE("odd argv and cwd and env bytes reach the far program exactly through ssh-then-sudo "
          "and sudo-then-ssh for every login shell",
          "[ssh][sudo]") {
  std::string cwd = sshd().shared_dir() + "/odd\ndir 'q' \"d\" $x `y` \\ \t\xff";
  REQUIRE(::mkdir(cwd.c_str(), 0755) == 0);
  TempSpool spool;
  int n = 0;
  for (const std::string& user : sshd().users()) {
    check_route(spool, {Via::ssh_then_sudo, user}, cwd, n);
    check_route(spool, {Via::sudo_then_ssh, user}, cwd, n);
  }
}

// Pins that words in square brackets after -- reach the program verbatim (CLI11 2.1 reads
// such a word as a container: '[a]' once became "a", '[a,b]' two arguments and '[]' nothing).
TEST_CASE("program arguments in square brackets reach the far program unchanged", "[ssh]") {
  TempSpool spool;
  Args words{"[a]", "[a,b]", "[]", "[", "]", "[x y]"};
  Args program{sshd().argv_dump()};
  program.insert(program.end(), words.begin(), words.end());
  RunResult r = run_chaperone(spool, run_args(sshd().options({Via::ssh, "chapsh"}), program));
  CHECK(r.exit_code == 0);
  std::string want = field("cwd");
  CHECK(r.out.rfind(want, 0) == 0);
  std::string args_part = field("argc") + field(std::to_string(words.size()));
  for (const std::string& w : words) {
    args_part += field(w);
  }
  std::size_t at = r.out.find(field("argc"));
  REQUIRE(at != std::string::npos);
  CHECK(show_bytes(r.out.substr(at)) == show_bytes(args_part));
}
