// cmdbuild/command.cpp: validates a program and a target and composes the argv for each mode.
#include "cmdbuild/command.hpp"

#include "cmdbuild/far_side.hpp"
#include "cmdbuild/marker.hpp"
#include "cmdbuild/printable.hpp"

#include <array>
#include <stdexcept>
#include <string_view>

namespace chaperone::cmdbuild {

namespace {

constexpr std::array<std::pair<TargetMode, std::string_view>, 5> k_mode_names{{
    {TargetMode::local, "local"},
    {TargetMode::sudo, "sudo"},
    {TargetMode::ssh, "ssh"},
    {TargetMode::ssh_then_sudo, "ssh-then-sudo"},
    {TargetMode::sudo_then_ssh, "sudo-then-ssh"},
}};

[[noreturn]] void reject(std::string_view field, std::string_view value, std::string_view why) {
  throw std::invalid_argument(std::string(field) + " \"" + printable(value)
                              + "\": " + std::string(why));
}

void reject_nul(std::string_view field, std::string_view value) {
  // exec(2) and the kernel's argv/env end every string at the first NUL: the far side would
  // silently get a shorter value.
  if (value.find('\0') != std::string_view::npos) {
    reject(field, value, "must not contain a NUL byte");
  }
}

bool has_control_or_space(std::string_view value) {
  for (unsigned char c : value) {
    if (c <= 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

// A name ssh, sudo or getopt would not read as an option, and a shell word it can pass on.
void check_name(std::string_view field, std::string_view value, bool may_be_empty) {
  reject_nul(field, value);
  if (value.empty()) {
    if (may_be_empty) {
      return;
    }
    reject(field, value, "must not be empty");
  }
  if (value.front() == '-') {
    reject(field, value, "must not start with '-'");
  }
  if (has_control_or_space(value)) {
    reject(field, value, "must not contain spaces or control characters");
  }
}

bool is_env_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
    return false;
  }
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

void validate_program(const Program& program) {
  if (program.argv.empty()) {
    throw std::invalid_argument("argv: must not be empty");
  }
  for (std::size_t i = 0; i < program.argv.size(); ++i) {
    reject_nul("argv[" + std::to_string(i) + "]", program.argv[i]);
  }
  if (program.argv[0].empty()) {
    reject("argv[0]", program.argv[0], "must not be empty");
  }
  reject_nul("cwd", program.cwd);
  for (const auto& [name, value] : program.env) {
    reject_nul("env name", name);
    if (name.empty()) {
      reject("env name", name, "must not be empty");
    }
    if (name.find('=') != std::string::npos) {
      reject("env name", name, "must not contain '='");
    }
    if (!is_env_name(name)) {
      reject("env name", name, "must be letters, digits and '_', not starting with a digit");
    }
    reject_nul("env " + name, value);
  }
  if (program.umask && (*program.umask & ~mode_t{0777}) != 0) {
    throw std::invalid_argument("umask " + std::to_string(*program.umask)
                                + ": must be between 0 and 0777");
  }
}

void check_positive(std::string_view field, int value) {
  if (value <= 0) {
    throw std::invalid_argument(std::string(field) + " " + std::to_string(value)
                                + ": must be positive");
  }
}

void validate_ssh(const Target& target) {
  check_name("host", target.host, false);
  if (target.port && (*target.port < 1 || *target.port > 65535)) {
    throw std::invalid_argument("port " + std::to_string(*target.port)
                                + ": must be between 1 and 65535");
  }
  check_name("login", target.login, true);
  reject_nul("identity file", target.identity_file);
  if (!target.identity_file.empty() && target.identity_file.front() == '-') {
    reject("identity file", target.identity_file, "must not start with '-'");
  }
  for (const std::string& option : target.ssh_options) {
    reject_nul("ssh option", option);
    std::size_t eq = option.find('=');
    if (eq == std::string::npos) {
      reject("ssh option", option, "must be Key=Value");
    }
    std::string_view key = std::string_view(option).substr(0, eq);
    bool key_ok = !key.empty();
    for (char c : key) {
      key_ok =
          key_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    }
    if (!key_ok) {
      reject("ssh option", option, "key must be letters and digits");
    }
    for (unsigned char c : option) {
      if (c < 0x20 || c == 0x7f) {
        // ssh parses -o as a config line: a newline would end it early.
        reject("ssh option", option, "must not contain control characters");
      }
    }
  }
  // ssh splits these values at spaces and quotes like a config file line.
  check_name("control path", target.control_path, true);
  check_name("control persist", target.control_persist, true);
  if (!target.control_master.empty()) {
    constexpr std::array<std::string_view, 5> k_values{"yes", "no", "ask", "auto", "autoask"};
    bool known = false;
    for (std::string_view v : k_values) {
      known = known || target.control_master == v;
    }
    if (!known) {
      reject("control master", target.control_master, "must be yes, no, ask, auto or autoask");
    }
  }
  check_positive("connect timeout", target.connect_timeout);
  check_positive("server alive interval", target.server_alive_interval);
  check_positive("server alive count max", target.server_alive_count_max);
  check_name("ssh program", target.ssh_program, false);
}

void validate_target(const Target& target) {
  bool ssh = is_ssh_mode(target.mode);
  bool sudo = target.mode == TargetMode::sudo || target.mode == TargetMode::ssh_then_sudo
              || target.mode == TargetMode::sudo_then_ssh;
  std::string mode = to_string(target.mode);
  if (ssh) {
    validate_ssh(target);
  } else if (!target.host.empty()) {
    reject("host", target.host, "not used by mode " + mode);
  }
  if (sudo) {
    check_name("sudo user", target.sudo_user, true);
    check_name("sudo program", target.sudo_program, false);
  } else if (!target.sudo_user.empty()) {
    reject("sudo user", target.sudo_user, "not used by mode " + mode);
  }
}

std::string octal_umask(const std::optional<mode_t>& umask) {
  if (!umask) {
    return {};
  }
  std::string digits;
  for (int shift = 9; shift >= 0; shift -= 3) {
    digits.push_back(static_cast<char>('0' + ((*umask >> shift) & 7)));
  }
  return digits;
}

// NONCE UMASK CWD NAME=VALUE... -- PROG ARGS...: the parameters both wrappers take.
void append_wrapper_params(std::vector<std::string>& argv,
                           const Program& program,
                           const std::string& nonce) {
  argv.push_back(nonce);
  argv.push_back(octal_umask(program.umask));
  argv.push_back(program.cwd);
  for (const auto& [name, value] : program.env) {
    argv.push_back(name);
    argv.back().append("=").append(value);
  }
  argv.emplace_back("--");
  argv.insert(argv.end(), program.argv.begin(), program.argv.end());
}

std::vector<std::string> sudo_prefix(const Target& target) {
  std::vector<std::string> argv{target.sudo_program, "-n"};
  if (!target.sudo_user.empty()) {
    argv.emplace_back("-u");
    argv.push_back(target.sudo_user);
  }
  argv.emplace_back("--");
  return argv;
}

// The local ssh client's argv up to and including the destination.
std::vector<std::string> ssh_prefix(const Target& target) {
  std::vector<std::string> argv{target.ssh_program};
  auto option = [&argv](std::string value) {
    argv.emplace_back("-o");
    argv.push_back(std::move(value));
  };
  // ssh keeps the first value it reads for each key: the user's options go first so they
  // override everything below.
  for (const std::string& user_option : target.ssh_options) {
    option(user_option);
  }
  if (!target.control_master.empty()) {
    option("ControlMaster=" + target.control_master);
  }
  if (!target.control_path.empty()) {
    option("ControlPath=" + target.control_path);
  }
  if (!target.control_persist.empty()) {
    option("ControlPersist=" + target.control_persist);
  }
  option("BatchMode=yes");
  option("LogLevel=ERROR");
  option("ServerAliveInterval=" + std::to_string(target.server_alive_interval));
  option("ServerAliveCountMax=" + std::to_string(target.server_alive_count_max));
  option("ConnectTimeout=" + std::to_string(target.connect_timeout));
  if (target.port) {
    argv.emplace_back("-p");
    argv.push_back(std::to_string(*target.port));
  }
  std::string login = target.login;
  if (login.empty() && target.mode == TargetMode::sudo_then_ssh) {
    login = target.sudo_user;
  }
  if (!login.empty()) {
    argv.emplace_back("-l");
    argv.push_back(login);
  }
  if (!target.identity_file.empty()) {
    argv.emplace_back("-i");
    argv.push_back(target.identity_file);
  }
  argv.emplace_back("--");
  argv.push_back(target.host);
  return argv;
}

// Wraps the far side's argv into the local argv for an ssh mode.
std::vector<std::string> ssh_command(const Target& target,
                                     const std::vector<std::string>& far_side_argv,
                                     PerlStart start = PerlStart::quiet) {
  std::string line = remote_command_line(far_side_argv, start);
  if (line.size() > k_max_remote_command_line) {
    throw std::invalid_argument("argv: the remote command line would be "
                                + std::to_string(line.size()) + " bytes, over Linux's limit of "
                                + std::to_string(k_max_remote_command_line)
                                + " for one argument (argv, env and cwd: about 64 KiB)");
  }
  std::vector<std::string> argv;
  if (target.mode == TargetMode::sudo_then_ssh) {
    argv = sudo_prefix(target);
  }
  std::vector<std::string> ssh = ssh_prefix(target);
  argv.insert(argv.end(), ssh.begin(), ssh.end());
  argv.push_back(std::move(line));
  return argv;
}

// The far side's argv before the run-specific part, in ssh modes.
std::vector<std::string> far_side_sudo(const Target& target) {
  if (target.mode == TargetMode::ssh_then_sudo) {
    return sudo_prefix(target);
  }
  return {};
}

} // namespace

std::string to_string(TargetMode mode) {
  for (const auto& [value, name] : k_mode_names) {
    if (value == mode) {
      return std::string(name);
    }
  }
  throw std::invalid_argument("mode " + std::to_string(static_cast<int>(mode)) + ": unknown");
}

std::optional<TargetMode> parse_target_mode(const std::string& name) {
  for (const auto& [value, mode_name] : k_mode_names) {
    if (mode_name == name) {
      return value;
    }
  }
  return std::nullopt;
}

TargetMode default_mode(bool has_host, bool has_sudo_user) {
  if (has_host) {
    return has_sudo_user ? TargetMode::ssh_then_sudo : TargetMode::ssh;
  }
  return has_sudo_user ? TargetMode::sudo : TargetMode::local;
}

bool is_ssh_mode(TargetMode mode) {
  return mode == TargetMode::ssh || mode == TargetMode::ssh_then_sudo
         || mode == TargetMode::sudo_then_ssh;
}

BeforeFirstMarker before_first_marker(TargetMode mode) {
  return is_ssh_mode(mode) ? BeforeFirstMarker::drop_perl_locale_warnings : BeforeFirstMarker::keep;
}

Command build_command(const Program& program, const Target& target, const std::string& nonce) {
  validate_program(program);
  validate_target(target);
  bool ssh = is_ssh_mode(target.mode);
  if (ssh || !nonce.empty()) {
    validate_nonce(nonce);
  }

  Command command;
  if (!ssh) {
    bool needs_wrapper = !program.cwd.empty() || !program.env.empty() || program.umask;
    if (target.mode == TargetMode::sudo) {
      command.argv = sudo_prefix(target);
    }
    if (needs_wrapper) {
      // Exact argv needs no quoting here; the fixed sh script only applies cwd, env and
      // umask and then execs, so the program keeps the wrapper's pid.
      command.argv.insert(command.argv.end(),
                          {"/bin/sh", "-c", std::string(k_exec_wrapper_sh), "sh"});
      append_wrapper_params(command.argv, program, nonce);
      command.nonce = nonce;
    } else {
      command.argv.insert(command.argv.end(), program.argv.begin(), program.argv.end());
    }
    return command;
  }

  command.far_side_argv = far_side_sudo(target);
  command.far_side_argv.insert(
      command.far_side_argv.end(), k_far_side_perl.begin(), k_far_side_perl.end());
  command.far_side_argv.emplace_back(k_remote_wrapper_pl);
  append_wrapper_params(command.far_side_argv, program, nonce);
  // A run's stderr goes through a MarkerFilter that drops what perl says about the locale
  // before the wrapper's first marker: the line can skip env (see PerlStart::direct).
  command.argv = ssh_command(target, command.far_side_argv, PerlStart::direct);
  command.nonce = nonce;
  return command;
}

namespace {

std::vector<std::string>
remote_signal_argv(const Target& target, pid_t pgid, int signal, const std::string& nonce) {
  std::vector<std::string> kill_argv = far_side_sudo(target);
  if (target.mode == TargetMode::sudo) {
    kill_argv = sudo_prefix(target);
  }
  kill_argv.insert(kill_argv.end(), k_far_side_perl.begin(), k_far_side_perl.end());
  kill_argv.insert(
      kill_argv.end(),
      {std::string(k_remote_kill_pl), nonce, std::to_string(pgid), std::to_string(signal)});
  if (!is_ssh_mode(target.mode)) {
    return kill_argv;
  }
  return ssh_command(target, kill_argv);
}

} // namespace

std::vector<std::string>
build_remote_probe(const Target& target, pid_t pgid, const std::string& nonce) {
  validate_target(target);
  validate_nonce(nonce);
  if (pgid <= 1) {
    throw std::invalid_argument("pgid " + std::to_string(pgid) + ": must be greater than 1");
  }
  return remote_signal_argv(target, pgid, 0, nonce);
}

std::vector<std::string>
build_remote_kill(const Target& target, pid_t pgid, int signal, const std::string& nonce) {
  validate_target(target);
  if (!nonce.empty()) {
    validate_nonce(nonce);
  }
  if (pgid <= 1) {
    // kill(-1) and kill(0) would hit far more than one run.
    throw std::invalid_argument("pgid " + std::to_string(pgid) + ": must be greater than 1");
  }
  if (signal < 1 || signal > 64) {
    throw std::invalid_argument("signal " + std::to_string(signal) + ": must be 1 to 64");
  }
  return remote_signal_argv(target, pgid, signal, nonce);
}

std::vector<std::string> build_far_exec(const Target& target,
                                        const std::vector<std::string>& far_argv) {
  validate_target(target);
  if (!is_ssh_mode(target.mode)) {
    throw std::invalid_argument("mode " + to_string(target.mode) + ": not an ssh mode");
  }
  if (far_argv.empty()) {
    throw std::invalid_argument("argv: empty");
  }
  for (const std::string& arg : far_argv) {
    reject_nul("argv", arg);
  }
  std::vector<std::string> argv = far_side_sudo(target);
  argv.insert(argv.end(), far_argv.begin(), far_argv.end());
  return ssh_command(target, argv);
}

std::vector<std::string> build_ssh_destination(const Target& target) {
  validate_target(target);
  if (target.mode != TargetMode::ssh && target.mode != TargetMode::ssh_then_sudo) {
    throw std::invalid_argument("mode " + to_string(target.mode)
                                + ": ssh does not run as the caller");
  }
  return ssh_prefix(target);
}

} // namespace chaperone::cmdbuild
