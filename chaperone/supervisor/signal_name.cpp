// chaperone/signal_name.cpp: signal name table.
#include "chaperone/supervisor/signal_name.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <utility>

namespace chaperone {

namespace {

constexpr std::array<std::pair<int, const char*>, 29> k_signals{{
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},     {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"},
    {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGSYS, "SYS"},
}};

} // namespace

std::optional<int> parse_signal(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  if (std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    if (text.size() > 3) {
      return std::nullopt;
    }
    int number = std::stoi(text);
    if (number < 0 || number >= NSIG) {
      return std::nullopt;
    }
    return number;
  }
  std::string name;
  for (char c : text) {
    name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (name.rfind("SIG", 0) == 0) {
    name.erase(0, 3);
  }
  for (const auto& [number, signal_text] : k_signals) {
    if (name == signal_text) {
      return number;
    }
  }
  return std::nullopt;
}

std::string signal_name(int signum) {
  for (const auto& [number, text] : k_signals) {
    if (number == signum) {
      return std::string("SIG") + text;
    }
  }
  return "signal " + std::to_string(signum);
}

} // namespace chaperone
