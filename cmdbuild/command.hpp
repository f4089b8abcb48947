// cmdbuild/command.hpp: turns a program and a target into the one argv to exec locally.
// Pure: no I/O, no logging, no environment lookups. Owns all shell quoting.
#pragma once

#include "cmdbuild/marker.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chaperone::cmdbuild {

// How the program is reached. See DESIGN.md "Remote runs".
enum class TargetMode { local, sudo, ssh, ssh_then_sudo, sudo_then_ssh };

// "local", "sudo", "ssh", "ssh-then-sudo", "sudo-then-ssh".
std::string to_string(TargetMode mode);
// Inverse of to_string; std::nullopt for an unknown name.
std::optional<TargetMode> parse_target_mode(const std::string& name);
// DESIGN.md's defaults: host alone -> ssh, host and sudo user -> ssh_then_sudo, sudo user
// alone -> sudo, neither -> local. sudo_then_ssh is never a default.
TargetMode default_mode(bool has_host, bool has_sudo_user);
// True for ssh, ssh_then_sudo and sudo_then_ssh.
bool is_ssh_mode(TargetMode mode);
// How a run's MarkerFilter treats stderr before the far side's first marker: in ssh modes
// the line starts perl without env (PerlStart::direct) and that stretch is never the
// program's (the wrapper reports "pid" before the program may run), so perl's locale
// warnings there are dropped; in local and sudo modes everything is kept.
BeforeFirstMarker before_first_marker(TargetMode mode);

struct Program {
  std::vector<std::string> argv;                        // argv[0] is looked up in PATH
  std::string cwd;                                      // empty: the far side's default
  std::vector<std::pair<std::string, std::string>> env; // set on the far side, in order
  std::optional<mode_t> umask;                          // applied on the far side
};

struct Target {
  TargetMode mode = TargetMode::local;
  std::string host;                     // ssh modes
  std::optional<int> port;              // ssh -p
  std::string login;                    // ssh -l; sudo_then_ssh: empty means the sudo user
  std::string identity_file;            // ssh -i
  std::string sudo_user;                // sudo modes; empty = root
  std::vector<std::string> ssh_options; // "Key=Value", placed before our defaults
  std::string control_path;             // ControlPath, empty = none
  std::string control_master;           // ControlMaster (yes/no/auto/...), empty = unset
  std::string control_persist;          // ControlPersist, empty = unset
  int connect_timeout = 10;             // seconds
  int server_alive_interval = 5;        // seconds
  int server_alive_count_max = 3;
  std::string ssh_program = "ssh";
  std::string sudo_program = "sudo";
};

struct Command {
  std::vector<std::string> argv; // exec this locally (argv[0] looked up in PATH)
  // Non-empty when the far side may write tagged lines on stderr (see marker.hpp): the
  // supervisor feeds stderr through a MarkerFilter built with this nonce and
  // before_first_marker(mode). In ssh modes the
  // far side always reports pid, pgid and the final status this way; in local and sudo
  // modes only a failed chdir is reported (the exit status is the caller's own child's).
  std::string nonce;
  // For debugging (`chaperone cmd`): in ssh modes, the argv the far side execs once it
  // has decoded the hex payload of the remote command line. Empty in local modes.
  std::vector<std::string> far_side_argv;
};

// Composes the argv for `program` on `target`. `nonce` is the caller's random token for the
// status channel: 8 to 64 ASCII letters or digits; required in ssh modes, optional (may be
// empty) in local and sudo modes. Throws std::invalid_argument with a one-line message
// naming the bad field for input that cannot be run safely.
//
// Far-side contract in ssh modes (see cmdbuild/README.md): the remote needs `perl` (any
// perl 5, core only) in the login user's PATH; the program leads its own process group; a
// failed chdir exits 125 without running the program; the remote command exits with the
// program's code, 128+N when it died of signal N. The remote command line must fit in one
// Linux argument (128 KiB), which bounds argv+env+cwd to about 64 KiB.
Command build_command(const Program& program, const Target& target, const std::string& nonce);

// The argv that sends `signal` to process group `pgid` on the target's far side, as the
// user the program runs as (through sudo in sudo modes). With a non-empty `nonce`, the
// signal is sent only while the group leader is still the child of the run's wrapper
// carrying that nonce, so a pgid reused after the run ended is never hit (exit code 2 then;
// 1 if kill(2) failed; 0 sent). Throws std::invalid_argument like build_command, and for
// pgid <= 1 or a signal outside 1..64.
std::vector<std::string>
build_remote_kill(const Target& target, pid_t pgid, int signal, const std::string& nonce = {});

// Like build_remote_kill with signal 0: exit 0 while the far group `pgid` is still led by
// the child of the run's wrapper carrying `nonce` (required), 2 once it is not.
std::vector<std::string>
build_remote_probe(const Target& target, pid_t pgid, const std::string& nonce);

// The local argv that runs `far_argv` (execvp, exact bytes, no shell) on the far side of an
// ssh mode as the program's user: through `sudo -n -u U --` there in ssh-then-sudo, as the
// sudo user's login in sudo-then-ssh. No wrapper and no status channel: the far command's own
// exit code comes back (255 when ssh itself failed). Used to drive a far chaperone
// (far_chaperone.hpp). Throws std::invalid_argument like build_command, and for a non-ssh
// mode.
std::vector<std::string> build_far_exec(const Target& target,
                                        const std::vector<std::string>& far_argv);

// The local ssh argv up to and including the destination (`ssh -o ... -- HOST`), no remote
// command: for ssh's own connection handling (ssh_master.hpp). Throws std::invalid_argument
// like build_command, and for a mode other than ssh and ssh-then-sudo (in sudo-then-ssh ssh
// runs as another user).
std::vector<std::string> build_ssh_destination(const Target& target);

} // namespace chaperone::cmdbuild
