// tests/unit/cmdbuild/command_test.cpp: every mode's argv shape and every rejected input.
#include "cmdbuild/command.hpp"
#include "cmdbuild/far_side.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace chaperone::cmdbuild;
using Argv = std::vector<std::string>;

namespace {

const std::string k_nonce = "Nonce1234abcd";

Program simple_program() {
  Program p;
  p.argv = {"printf", "%s\n", "a b"};
  return p;
}

Target ssh_target(TargetMode mode = TargetMode::ssh) {
  Target t;
  t.mode = mode;
  t.host = "example.org";
  return t;
}

Argv ssh_defaults() {
  return {"-o",
          "BatchMode=yes",
          "-o",
          "LogLevel=ERROR",
          "-o",
          "ServerAliveInterval=5",
          "-o",
          "ServerAliveCountMax=3",
          "-o",
          "ConnectTimeout=10"};
}

Argv concat(std::initializer_list<Argv> parts) {
  Argv out;
  for (const Argv& part : parts) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// Decodes the remote command line back into the argv the far side execs. The fused form
// (k_remote_eval_pl) runs the wrapper in the stub's own perl: the same as exec'ing
// k_far_side_perl with the rest.
// Both starts (PerlStart) are accepted.
Argv decode_remote_line(std::string line) {
  std::string direct = "exec perl -e '";
  if (line.compare(0, direct.size(), direct) == 0) {
    line = "exec env PERL_BADLANG=0 perl -e '" + line.substr(direct.size());
  }
  std::string exec_prefix =
      "exec env PERL_BADLANG=0 perl -e '" + std::string(k_remote_stub_pl) + "' ";
  std::string eval_prefix =
      "exec env PERL_BADLANG=0 perl -e '" + std::string(k_remote_eval_pl) + "' ";
  bool fused = line.compare(0, eval_prefix.size(), eval_prefix) == 0;
  std::string prefix = fused ? eval_prefix : exec_prefix;
  REQUIRE(line.compare(0, prefix.size(), prefix) == 0);
  std::string hex = line.substr(prefix.size());
  REQUIRE(hex.size() % 2 == 0);
  std::string bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  Argv out{""};
  for (char c : bytes) {
    if (c == '\0') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  if (fused) {
    out.insert(out.begin(), k_far_side_perl.begin(), k_far_side_perl.end());
  }
  return out;
}

Argv wrapper_params(const Program& p, const std::string& nonce, const std::string& umask = "") {
  Argv out{nonce, umask, p.cwd};
  for (const auto& [k, v] : p.env) {
    out.push_back(k);
    out.back().append("=").append(v);
  }
  out.emplace_back("--");
  out.insert(out.end(), p.argv.begin(), p.argv.end());
  return out;
}

} // namespace

TEST_CASE("mode names round-trip and unknown names are nullopt", "[cmdbuild]") {
  for (TargetMode m : {TargetMode::local,
                       TargetMode::sudo,
                       TargetMode::ssh,
                       TargetMode::ssh_then_sudo,
                       TargetMode::sudo_then_ssh}) {
    CHECK(parse_target_mode(to_string(m)) == m);
  }
  CHECK(to_string(TargetMode::ssh_then_sudo) == "ssh-then-sudo");
  CHECK(to_string(TargetMode::sudo_then_ssh) == "sudo-then-ssh");
  CHECK_FALSE(parse_target_mode("ssh_then_sudo").has_value());
  CHECK_FALSE(parse_target_mode("").has_value());
}

TEST_CASE("default mode follows host and sudo user", "[cmdbuild]") {
  CHECK(default_mode(false, false) == TargetMode::local);
  CHECK(default_mode(false, true) == TargetMode::sudo);
  CHECK(default_mode(true, false) == TargetMode::ssh);
  CHECK(default_mode(true, true) == TargetMode::ssh_then_sudo);
}

TEST_CASE("local mode without cwd, env or umask is the program's own argv", "[cmdbuild]") {
  Command c = build_command(simple_program(), Target{}, "");
  CHECK(c.argv == simple_program().argv);
  CHECK(c.nonce.empty());
  CHECK(c.far_side_argv.empty());
}

TEST_CASE("local mode with cwd, env and umask execs through the fixed sh wrapper", "[cmdbuild]") {
  Program p = simple_program();
  p.cwd = "/tmp/a b";
  p.env = {{"A", "1"}, {"B", "x=y\n"}};
  p.umask = 022;
  Command c = build_command(p, Target{}, k_nonce);
  CHECK(c.argv
        == concat({{"/bin/sh", "-c", std::string(k_exec_wrapper_sh), "sh"},
                   wrapper_params(p, k_nonce, "0022")}));
  CHECK(c.nonce == k_nonce);
  Command without_nonce = build_command(p, Target{}, "");
  CHECK(without_nonce.argv[4].empty());
  CHECK(without_nonce.nonce.empty());
}

TEST_CASE("sudo mode runs sudo -n with the user and an exact argv", "[cmdbuild]") {
  Target t;
  t.mode = TargetMode::sudo;
  t.sudo_user = "alice";
  CHECK(build_command(simple_program(), t, "").argv
        == concat({{"sudo", "-n", "-u", "alice", "--"}, simple_program().argv}));
  t.sudo_user.clear();
  CHECK(build_command(simple_program(), t, "").argv
        == concat({{"sudo", "-n", "--"}, simple_program().argv}));
  Program p = simple_program();
  p.cwd = "/";
  CHECK(build_command(p, t, "").argv
        == concat({{"sudo", "-n", "--", "/bin/sh", "-c", std::string(k_exec_wrapper_sh), "sh"},
                   wrapper_params(p, "")}));
}

TEST_CASE("ssh mode puts user options first, then defaults, then the destination", "[cmdbuild]") {
  Target t = ssh_target();
  t.port = 2222;
  t.login = "bob";
  t.identity_file = "/k/id";
  t.ssh_options = {"BatchMode=no", "ProxyJump=j"};
  t.control_master = "auto";
  t.control_path = "/tmp/cm-%C";
  t.control_persist = "60";
  Command c = build_command(simple_program(), t, k_nonce);
  Argv expected = concat({{"ssh", "-o", "BatchMode=no", "-o", "ProxyJump=j"},
                          {"-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/cm-%C"},
                          {"-o", "ControlPersist=60"},
                          ssh_defaults(),
                          {"-p", "2222", "-l", "bob", "-i", "/k/id", "--", "example.org"}});
  REQUIRE(c.argv.size() == expected.size() + 1);
  CHECK(Argv(c.argv.begin(), c.argv.end() - 1) == expected);
  CHECK(c.nonce == k_nonce);
  CHECK(c.far_side_argv
        == concat({{"env", "PERL_BADLANG=0", "perl", "-e", std::string(k_remote_wrapper_pl)},
                   wrapper_params(simple_program(), k_nonce)}));
  CHECK(decode_remote_line(c.argv.back()) == c.far_side_argv);
}

TEST_CASE("ssh-then-sudo runs sudo on the far side before the wrapper", "[cmdbuild]") {
  Target t = ssh_target(TargetMode::ssh_then_sudo);
  t.sudo_user = "svc";
  Command c = build_command(simple_program(), t, k_nonce);
  CHECK(Argv(c.argv.begin(), c.argv.end() - 1)
        == concat({{"ssh"}, ssh_defaults(), {"--", "example.org"}}));
  CHECK(c.far_side_argv
        == concat({{"sudo", "-n", "-u", "svc", "--", "env", "PERL_BADLANG=0", "perl", "-e"},
                   {std::string(k_remote_wrapper_pl)},
                   wrapper_params(simple_program(), k_nonce)}));
  CHECK(decode_remote_line(c.argv.back()) == c.far_side_argv);
}

TEST_CASE("sudo-then-ssh runs ssh under local sudo and logs in as the sudo user", "[cmdbuild]") {
  Target t = ssh_target(TargetMode::sudo_then_ssh);
  t.sudo_user = "svc";
  Command c = build_command(simple_program(), t, k_nonce);
  CHECK(Argv(c.argv.begin(), c.argv.end() - 1)
        == concat({{"sudo", "-n", "-u", "svc", "--", "ssh"},
                   ssh_defaults(),
                   {"-l", "svc", "--", "example.org"}}));
  CHECK(c.far_side_argv.front() == "env");
  t.login = "other";
  Command with_login = build_command(simple_program(), t, k_nonce);
  CHECK(std::find(with_login.argv.begin(), with_login.argv.end(), "other")
        != with_login.argv.end());
  CHECK(std::find(with_login.argv.begin(), with_login.argv.end(), "svc") - with_login.argv.begin()
        == 3);
}

TEST_CASE("the remote command line is quote-free but for one plain single-quoted word",
          "[cmdbuild]") {
  Program p;
  p.argv = {"x", "'", "\\", "!", "\n", "", "=a", "\xff\xfe"};
  Command c = build_command(p, ssh_target(), k_nonce);
  const std::string& line = c.argv.back();
  for (std::string_view stub : {k_remote_stub_pl, k_remote_eval_pl}) {
    for (char bad : {'\'', '\\', '!', '\n', '\0'}) {
      CHECK(stub.find(bad) == std::string_view::npos);
    }
  }
  // The wrapper runs in the stub's perl (one exec of perl on the far side, not two), and
  // the login shell execs that perl itself, without env (PerlStart::direct).
  std::size_t hex_start = line.rfind(' ') + 1;
  CHECK(line.substr(0, hex_start) == "exec perl -e '" + std::string(k_remote_eval_pl) + "' ");
  CHECK(line.find_first_not_of("0123456789abcdef", hex_start) == std::string::npos);
  CHECK(decode_remote_line(line) == c.far_side_argv);
}

namespace {

// Runs a remote command line as sshd does (`sh -c LINE`): stdout and the exit code.
std::pair<std::string, int> run_remote_line(const std::string& line) {
  FILE* pipe = ::popen(line.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[256];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) {
    out.append(buffer, n);
  }
  int status = ::pclose(pipe);
  REQUIRE(WIFEXITED(status));
  return {out, WEXITSTATUS(status)};
}

} // namespace

TEST_CASE("a far perl script runs in the stub's own perl with its argv byte for byte",
          "[cmdbuild]") {
  Argv args{"a b", "", "c'd\\e", "!x", "\n", "-e", "--", "\xff"};
  Argv far = k_far_side_perl;
  far.emplace_back("print join(chr(0), $0, scalar(@ARGV), @ARGV); "
                   "print defined $ENV{PERL_BADLANG} ? q( set) : q( unset); exit 7");
  far.insert(far.end(), args.begin(), args.end());
  std::string fused = remote_command_line(far);
  CHECK(fused.find(std::string(k_remote_eval_pl)) != std::string::npos);
  auto [out, code] = run_remote_line(fused);
  std::string expected = "-e";
  expected.append(1, '\0').append(std::to_string(args.size()));
  for (const std::string& arg : args) {
    expected.append(1, '\0').append(arg);
  }
  CHECK(code == 7);
  CHECK(out == expected + " set");
  // The generic stub execs the same argv: the same result, at the cost of a second perl.
  Argv generic{"/usr/bin/env"};
  generic.insert(generic.end(), far.begin() + 1, far.end());
  std::string generic_line = remote_command_line(generic);
  CHECK(generic_line.find(std::string(k_remote_stub_pl)) != std::string::npos);
  CHECK(run_remote_line(generic_line) == std::pair{expected + " set", 7});
  // A script that does not compile fails as `perl -e` does, with its message on stderr.
  Argv broken = k_far_side_perl;
  broken.emplace_back("print (;");
  CHECK(run_remote_line(remote_command_line(broken) + " 2>/dev/null").second == 255);
}

TEST_CASE("a run's far line starts perl without env: perl's locale warning before the first "
          "marker is dropped, the program's own is kept",
          "[cmdbuild]") {
  // The run's far side as sshd starts it for a login whose locale the far side lacks (fish
  // sets LC_CTYPE=en_US.UTF-8; ssh sends the caller's LANG): its stderr through the run's
  // filter.
  struct Far {
    std::string raw;
    std::string err;
    std::optional<int> exit_code;
  };
  auto far_stderr = [](const Argv& argv) {
    Program p;
    p.argv = argv;
    Command c = build_command(p, ssh_target(), k_nonce);
    std::string raw = run_remote_line("unset PERL_BADLANG; export LC_ALL=xx_XX.UTF-8; "
                                      + c.argv.back() + " 2>&1 >/dev/null")
                          .first;
    MarkerFilter filter(k_nonce, before_first_marker(TargetMode::ssh));
    std::string err = filter.feed(raw);
    err += filter.finish();
    return Far{raw, err, filter.exit_code()};
  };
  const std::string warning = "perl: warning: Setting locale failed";
  Far quiet = far_stderr({"sh", "-c", "echo prog >&2"});
  INFO("raw: " << quiet.raw);
  REQUIRE(quiet.raw.find(warning) != std::string::npos); // the far perl did complain
  CHECK(quiet.raw.find(warning) < quiet.raw.find("chaperone-marker"));
  CHECK(quiet.err == "prog\n");
  CHECK(quiet.exit_code == 0);
  // A program that is itself perl complains after the "pid" marker: its bytes, kept.
  Far own = far_stderr({"perl", "-e", "exit 3"});
  INFO("raw: " << own.raw);
  CHECK(own.err.rfind(warning, 0) == 0);
  CHECK(own.exit_code == 3);
}

TEST_CASE("the nonce-guarded far kill finds the wrapper that runs in the stub's perl",
          "[cmdbuild]") {
  // The far side of a run, started as sshd starts it, here: its markers come out on stdout.
  Program p;
  p.argv = {"sleep", "30"};
  Command c = build_command(p, ssh_target(), k_nonce);
  FILE* far = ::popen((c.argv.back() + " 2>&1 >/dev/null").c_str(), "r");
  REQUIRE(far != nullptr);
  std::string pid_marker = "chaperone-marker " + k_nonce + " pid ";
  long pgid = 0;
  char line[512];
  while (pgid == 0 && std::fgets(line, sizeof line, far) != nullptr) {
    std::string text(line);
    if (text.rfind(pid_marker, 0) == 0) {
      pgid = std::stol(text.substr(text.rfind(' ') + 1));
    }
  }
  REQUIRE(pgid > 1);
  auto kill_line = [&](const std::string& nonce) {
    return remote_command_line(concat(
        {k_far_side_perl, {std::string(k_remote_kill_pl), nonce, std::to_string(pgid), "15"}}));
  };
  // Another run's nonce: the group is not ours to signal (exit 2), the program lives on.
  CHECK(run_remote_line(kill_line("OtherNonce5678")).second == 2);
  CHECK(::kill(static_cast<pid_t>(-pgid), 0) == 0);
  CHECK(run_remote_line(kill_line(k_nonce)).second == 0);
  std::string rest;
  while (std::fgets(line, sizeof line, far) != nullptr) {
    rest += line;
  }
  int status = ::pclose(far);
  CHECK(rest.find("chaperone-marker " + k_nonce + " signal 15") != std::string::npos);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 128 + 15);
}

TEST_CASE("a remote command line over one Linux argument is rejected", "[cmdbuild]") {
  Program p;
  p.argv = {"x", std::string(70000, 'a')};
  CHECK_THROWS_WITH(build_command(p, ssh_target(), k_nonce),
                    Catch::Contains("argv: the remote command line would be"));
  CHECK_NOTHROW(build_command(p, Target{}, ""));
}

TEST_CASE("remote kill signals the group as the program's user", "[cmdbuild]") {
  Target t = ssh_target(TargetMode::ssh_then_sudo);
  t.sudo_user = "svc";
  Argv kill = build_remote_kill(t, 4242, 15, k_nonce);
  Argv far = decode_remote_line(kill.back());
  CHECK(far
        == Argv{"sudo",
                "-n",
                "-u",
                "svc",
                "--",
                "env",
                "PERL_BADLANG=0",
                "perl",
                "-e",
                std::string(k_remote_kill_pl),
                k_nonce,
                "4242",
                "15"});
  Target plain = ssh_target();
  CHECK(decode_remote_line(build_remote_kill(plain, 4242, 9).back())
        == Argv{
            "env", "PERL_BADLANG=0", "perl", "-e", std::string(k_remote_kill_pl), "", "4242", "9"});
  Target sudo;
  sudo.mode = TargetMode::sudo;
  sudo.sudo_user = "svc";
  CHECK(build_remote_kill(sudo, 77, 2)
        == Argv{"sudo",
                "-n",
                "-u",
                "svc",
                "--",
                "env",
                "PERL_BADLANG=0",
                "perl",
                "-e",
                std::string(k_remote_kill_pl),
                "",
                "77",
                "2"});
  Target sudo_ssh = ssh_target(TargetMode::sudo_then_ssh);
  sudo_ssh.sudo_user = "svc";
  Argv via = build_remote_kill(sudo_ssh, 77, 2);
  CHECK(Argv(via.begin(), via.begin() + 6) == Argv{"sudo", "-n", "-u", "svc", "--", "ssh"});
  CHECK(decode_remote_line(via.back()).front() == "env");
}

TEST_CASE("remote kill rejects pgid 0 and 1, bad signals and bad nonces", "[cmdbuild]") {
  Target t = ssh_target();
  CHECK_THROWS_WITH(build_remote_kill(t, 1, 15), "pgid 1: must be greater than 1");
  CHECK_THROWS_WITH(build_remote_kill(t, 0, 15), "pgid 0: must be greater than 1");
  CHECK_THROWS_WITH(build_remote_kill(t, -5, 15), "pgid -5: must be greater than 1");
  CHECK_THROWS_WITH(build_remote_kill(t, 100, 0), "signal 0: must be 1 to 64");
  CHECK_THROWS_WITH(build_remote_kill(t, 100, 65), "signal 65: must be 1 to 64");
  CHECK_THROWS_WITH(build_remote_kill(t, 100, 15, "bad nonce"), Catch::Contains("nonce"));
  t.host = "-x";
  CHECK_THROWS_WITH(build_remote_kill(t, 100, 15), Catch::Contains("host \"-x\""));
}

namespace {

struct Rejection {
  std::string what;
  std::function<void(Program&, Target&, std::string&)> change;
  std::string message;
};

} // namespace

TEST_CASE("input that cannot run safely is rejected with a message naming the field",
          "[cmdbuild]") {
  using std::string_literals::operator""s;
  // NOLINTBEGIN(modernize-raw-string-literal): escapes read better in a table of bytes
  std::vector<Rejection> cases{
      {"empty argv",
       [](Program& p, Target&, std::string&) { p.argv.clear(); },
       "argv: must not be empty"},
      {"empty argv[0]",
       [](Program& p, Target&, std::string&) { p.argv[0].clear(); },
       "argv[0] \"\": must not be empty"},
      {"NUL in an argument",
       [](Program& p, Target&, std::string&) { p.argv[2] = "a\0b"s; },
       "argv[2] \"a\\x00b\": must not contain a NUL byte"},
      {"NUL in cwd",
       [](Program& p, Target&, std::string&) { p.cwd = "/t\0"s; },
       "cwd \"/t\\x00\": must not contain a NUL byte"},
      {"empty env name",
       [](Program& p, Target&, std::string&) {
         p.env = {{"", "v"}};
       },
       "env name \"\": must not be empty"},
      {"env name with =",
       [](Program& p, Target&, std::string&) {
         p.env = {{"A=B", "v"}};
       },
       "env name \"A=B\": must not contain '='"},
      {"env name with a space",
       [](Program& p, Target&, std::string&) {
         p.env = {{"A B", ""}};
       },
       "env name \"A B\": must be letters, digits and '_', not starting with a digit"},
      {"env name starting with a digit",
       [](Program& p, Target&, std::string&) {
         p.env = {{"1A", ""}};
       },
       "env name \"1A\": must be letters, digits and '_', not starting with a digit"},
      {"NUL in an env name",
       [](Program& p, Target&, std::string&) {
         p.env = {{"A\0"s, ""}};
       },
       "env name \"A\\x00\": must not contain a NUL byte"},
      {"NUL in an env value",
       [](Program& p, Target&, std::string&) {
         p.env = {{"A", "\0"s}};
       },
       "env A \"\\x00\": must not contain a NUL byte"},
      {"umask over 0777",
       [](Program& p, Target&, std::string&) { p.umask = 01000; },
       "umask 512: must be between 0 and 0777"},
      {"empty host",
       [](Program&, Target& t, std::string&) { t.host.clear(); },
       "host \"\": must not be empty"},
      {"host starting with -",
       [](Program&, Target& t, std::string&) { t.host = "-oProxyCommand=x"; },
       "host \"-oProxyCommand=x\": must not start with '-'"},
      {"host with a space",
       [](Program&, Target& t, std::string&) { t.host = "a b"; },
       "host \"a b\": must not contain spaces or control characters"},
      {"host with a newline",
       [](Program&, Target& t, std::string&) { t.host = "a\nb"; },
       "host \"a\\x0ab\": must not contain spaces or control characters"},
      {"NUL in host",
       [](Program&, Target& t, std::string&) { t.host = "h\0"s; },
       "host \"h\\x00\": must not contain a NUL byte"},
      {"port 0",
       [](Program&, Target& t, std::string&) { t.port = 0; },
       "port 0: must be between 1 and 65535"},
      {"port 65536",
       [](Program&, Target& t, std::string&) { t.port = 65536; },
       "port 65536: must be between 1 and 65535"},
      {"login starting with -",
       [](Program&, Target& t, std::string&) { t.login = "-l"; },
       "login \"-l\": must not start with '-'"},
      {"identity starting with -",
       [](Program&, Target& t, std::string&) { t.identity_file = "-F"; },
       "identity file \"-F\": must not start with '-'"},
      {"ssh option without =",
       [](Program&, Target& t, std::string&) { t.ssh_options = {"BatchMode"}; },
       "ssh option \"BatchMode\": must be Key=Value"},
      {"ssh option with an empty key",
       [](Program&, Target& t, std::string&) { t.ssh_options = {"=x"}; },
       "ssh option \"=x\": key must be letters and digits"},
      {"ssh option starting with -",
       [](Program&, Target& t, std::string&) { t.ssh_options = {"-F=x"}; },
       "ssh option \"-F=x\": key must be letters and digits"},
      {"ssh option with a newline",
       [](Program&, Target& t, std::string&) { t.ssh_options = {"User=a\nHost=b"}; },
       "ssh option \"User=a\\x0aHost=b\": must not contain control characters"},
      {"bad control master",
       [](Program&, Target& t, std::string&) { t.control_master = "y"; },
       "control master \"y\": must be yes, no, ask, auto or autoask"},
      {"control path with a space",
       [](Program&, Target& t, std::string&) { t.control_path = "/a b"; },
       "control path \"/a b\": must not contain spaces or control characters"},
      {"zero connect timeout",
       [](Program&, Target& t, std::string&) { t.connect_timeout = 0; },
       "connect timeout 0: must be positive"},
      {"negative keepalive",
       [](Program&, Target& t, std::string&) { t.server_alive_interval = -1; },
       "server alive interval -1: must be positive"},
      {"zero keepalive count",
       [](Program&, Target& t, std::string&) { t.server_alive_count_max = 0; },
       "server alive count max 0: must be positive"},
      {"empty nonce",
       [](Program&, Target&, std::string& n) { n.clear(); },
       "nonce \"\": must be 8 to 64 ASCII letters or digits"},
      {"nonce with a newline",
       [](Program&, Target&, std::string& n) { n = "abcdefgh\n"; },
       "nonce \"abcdefgh\\x0a\": must be 8 to 64 ASCII letters or digits"},
      {"short nonce",
       [](Program&, Target&, std::string& n) { n = "abc"; },
       "nonce \"abc\": must be 8 to 64 ASCII letters or digits"},
      {"sudo user starting with -",
       [](Program&, Target& t, std::string&) {
         t.mode = TargetMode::ssh_then_sudo;
         t.sudo_user = "-s";
       },
       "sudo user \"-s\": must not start with '-'"},
      {"sudo user in plain ssh mode",
       [](Program&, Target& t, std::string&) { t.sudo_user = "root"; },
       "sudo user \"root\": not used by mode ssh"},
      {"host in local mode",
       [](Program&, Target& t, std::string&) { t.mode = TargetMode::local; },
       "host \"example.org\": not used by mode local"},
      {"host in sudo mode",
       [](Program&, Target& t, std::string&) { t.mode = TargetMode::sudo; },
       "host \"example.org\": not used by mode sudo"},
      {"empty ssh program",
       [](Program&, Target& t, std::string&) { t.ssh_program.clear(); },
       "ssh program \"\": must not be empty"},
  };
  // NOLINTEND(modernize-raw-string-literal)
  for (const Rejection& r : cases) {
    SECTION(r.what) {
      Program p = simple_program();
      Target t = ssh_target();
      std::string nonce = k_nonce;
      r.change(p, t, nonce);
      CHECK_THROWS_AS(build_command(p, t, nonce), std::invalid_argument);
      CHECK_THROWS_WITH(build_command(p, t, nonce), r.message);
    }
  }
}

TEST_CASE("a bad nonce is rejected in local modes only when one is given", "[cmdbuild]") {
  Program p = simple_program();
  p.cwd = "/";
  CHECK_NOTHROW(build_command(p, Target{}, ""));
  CHECK_THROWS_WITH(build_command(p, Target{}, "x y"), Catch::Contains("nonce"));
}
