// tests/support/process_info.cpp: /proc listing and /proc/PID/stat parsing.
#include "tests/support/process_info.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>
#include <string>

namespace chaperone::test {

std::string read_proc_file(pid_t pid, const std::string& name) {
  // Plain read(2): a process that exits mid-read fails it with ESRCH, which an ifstream
  // turns into an exception (libstdc++'s filebuf::underflow throws on a read error).
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      if (n < 0) {
        text.clear(); // gone while reading: as if gone before
      }
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

std::optional<ProcessSnapshot> read_process(pid_t pid) {
  if (pid <= 0) {
    return std::nullopt;
  }
  ProcessSnapshot p;
  p.pid = pid;
  p.stat = read_proc_file(pid, "stat");
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  std::size_t close = p.stat.rfind(')');
  if (close == std::string::npos || close + 2 > p.stat.size()) {
    return std::nullopt;
  }
  if (!p.stat.empty() && p.stat.back() == '\n') {
    p.stat.pop_back();
  }
  std::istringstream fields(p.stat.substr(close + 2));
  std::string state;
  long ppid = 0;
  long pgrp = 0;
  if (!(fields >> state >> ppid >> pgrp) || state.empty()) {
    return std::nullopt;
  }
  p.state = state[0];
  p.ppid = static_cast<pid_t>(ppid);
  p.pgrp = static_cast<pid_t>(pgrp);
  // Fields 6 to 21 skipped; 22 is the start time (fields numbered from 1, comm is 2).
  std::string field;
  for (int number = 6; number <= 22 && fields >> field; ++number) {
    if (number == 22) {
      p.start_ticks = std::stoull(field);
      return p;
    }
  }
  return std::nullopt;
}

std::vector<ProcessSnapshot> list_processes() {
  std::vector<ProcessSnapshot> processes;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    if (auto p = read_process(static_cast<pid_t>(std::stol(name)))) {
      processes.push_back(std::move(*p));
    }
  }
  return processes;
}

bool has_entry(const std::string& entries, const std::string& entry) {
  std::string needle = entry;
  needle.push_back('\0');
  // The first entry has no NUL before it: match it at the start, every other after a NUL.
  return entries.compare(0, needle.size(), needle) == 0
         || entries.find(std::string(1, '\0') + needle) != std::string::npos;
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  auto p = read_process(pid);
  if (!p) {
    return std::nullopt;
  }
  return p->start_ticks;
}

bool process_running(pid_t pid, std::optional<std::uint64_t> start_ticks) {
  auto p = read_process(pid);
  return p && p->live() && (!start_ticks || *start_ticks == p->start_ticks);
}

} // namespace chaperone::test
