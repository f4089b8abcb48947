// cmdbuild/far_side.hpp: the fixed scripts that run on the far side of a target, and the one
// remote command line every login shell parses the same way. Internal to cmdbuild; exposed
// so tests can run the pieces on their own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chaperone::cmdbuild {

// POSIX sh, run as `/bin/sh -c SCRIPT sh NONCE UMASK CWD NAME=VALUE... -- PROG ARGS...` in
// local and sudo modes: applies umask, cwd (failure: "cwd" marker if NONCE is non-empty,
// exit 125) and env, then execs the program (same pid, so the caller's child is the program).
extern const std::string_view k_exec_wrapper_sh;

// Perl, run as `perl -e SCRIPT NONCE UMASK CWD NAME=VALUE... -- PROG ARGS...` on the far side
// of ssh modes: applies umask, cwd and env, forks the program into its own process group,
// reports "pid", waits, reports "exit" or "signal" and exits with the same code (128+N for a
// signal). Forwards TERM, INT, HUP and QUIT it receives to the program's group.
extern const std::string_view k_remote_wrapper_pl;

// Perl, run as `perl -e SCRIPT NONCE PGID SIGNAL`: see build_remote_kill.
extern const std::string_view k_remote_kill_pl;

// Every far-side perl of a kill, a probe or a --hold far step starts as `env PERL_BADLANG=0
// perl`: a login shell may set a locale the far side lacks (fish sets LC_CTYPE=en_US.UTF-8
// when none is set, Debian's ssh sends the caller's LANG and LC_*), and perl would then print
// "Setting locale failed" warnings into stderr. The wrapper deletes the variable again
// before applying the program's env.
extern const std::vector<std::string> k_far_side_perl;

// How the remote command line starts its perl.
enum class PerlStart {
  // `exec env PERL_BADLANG=0 perl`: perl stays quiet about a missing locale.
  quiet,
  // `exec perl`: one exec of env less on every run (about 1 ms of far-side CPU). perl's
  // locale warnings, if any, then come before the wrapper's first marker, where nothing is
  // the program's yet, and the run's MarkerFilter drops them (BeforeFirstMarker).
  direct,
};

// The remote command line for ssh: a quote-free fixed stub `exec [env PERL_BADLANG=0] perl
// -e '...' HEX` whose single-quoted part holds no `'`, `\`, `!` or newline, and whose only
// other word is [0-9a-f]+, so sh, dash, bash, zsh, fish and tcsh all hand perl the same two
// words. The stub decodes HEX (the NUL-joined `argv`) and execs it: the argv arrives byte for
// byte.
std::string remote_command_line(const std::vector<std::string>& argv,
                                PerlStart start = PerlStart::quiet);

// When `argv` starts with k_far_side_perl, the line is instead `exec [env PERL_BADLANG=0]
// perl -e '<k_remote_eval_pl>' HEX` with HEX the NUL-joined rest (SCRIPT ARGS...): that perl
// evaluates SCRIPT with ARGS as @ARGV, saving the second exec of env and perl.

// The stubs' perl code alone (for tests and documentation).
extern const std::string_view k_remote_stub_pl;
extern const std::string_view k_remote_eval_pl;

// Linux's limit on one argument (MAX_ARG_STRLEN, 32 pages) less the terminating NUL: sshd
// hands the whole remote command line to the login shell as one `-c` argument.
inline constexpr std::size_t k_max_remote_command_line = 131072 - 1;

} // namespace chaperone::cmdbuild
