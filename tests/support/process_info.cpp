// tests/support/process_info.cpp: /proc listing and /proc/PID/stat parsing.
#include "tests/support/process_info.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

std::vector<std::string> read_proc_argv(pid_t pid) {
  std::string cmdline = read_proc_file(pid, "cmdline");
  std::vector<std::string> argv;
  for (std::size_t start = 0, end; (end = cmdline.find('\0', start)) != std::string::npos;
       start = end + 1) {
    argv.push_back(cmdline.substr(start, end - start));
  }
  return argv;
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

std::vector<InotifyWatch> inotify_watches(pid_t pid) {
  std::vector<InotifyWatch> watches;
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(fd_dir, error)) {
    std::error_code link_error;
    std::filesystem::path target = std::filesystem::read_symlink(entry.path(), link_error);
    if (link_error || target != "anon_inode:inotify") {
      continue;
    }
    int fd = std::stoi(entry.path().filename().string());
    // Lines like "inotify wd:1 ino:2a0051 sdev:fe00000 mask:fc6 ignored_mask:0 ...": hex
    // numbers, and sdev in the kernel's encoding (major << 20 | minor).
    std::istringstream lines(read_proc_file(pid, "fdinfo/" + std::to_string(fd)));
    std::string line;
    while (std::getline(lines, line)) {
      unsigned wd = 0;
      unsigned long long ino = 0;
      unsigned sdev = 0;
      unsigned mask = 0;
      if (std::sscanf(
              line.c_str(), "inotify wd:%x ino:%llx sdev:%x mask:%x", &wd, &ino, &sdev, &mask)
          == 4) {
        watches.push_back(
            InotifyWatch{fd, static_cast<int>(wd), ino, mask, sdev >> 20, sdev & ((1U << 20) - 1)});
      }
    }
  }
  return watches;
}

std::vector<InotifyWatch> watches_on(const std::vector<InotifyWatch>& watches,
                                     const std::string& path) {
  std::vector<InotifyWatch> found;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return found;
  }
  for (const InotifyWatch& watch : watches) {
    if (watch.inode == st.st_ino && watch.dev_major == major(st.st_dev)
        && watch.dev_minor == minor(st.st_dev)) {
      found.push_back(watch);
    }
  }
  return found;
}

std::string run_watch_problems(const std::vector<InotifyWatch>& watches, const std::string& dir) {
  std::ostringstream problems;
  std::vector<InotifyWatch> on_dir = watches_on(watches, dir);
  if (on_dir.size() != 1) {
    problems << on_dir.size() << " watches on the run dir, not 1\n";
  }
  // The events fsnotify reports through a dir's children (FS_EVENTS_POSS_ON_CHILD).
  constexpr std::uint32_t k_child_events =
      IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN;
  for (const InotifyWatch& watch : on_dir) {
    if ((watch.mask & k_child_events) != 0) {
      problems << "the run dir asks for events of its children: mask " << std::hex << watch.mask
               << std::dec << "\n";
    }
    if ((watch.mask & IN_MOVED_TO) == 0) {
      problems << "the run dir does not ask for IN_MOVED_TO: mask " << std::hex << watch.mask
               << std::dec << "\n";
    }
  }
  for (const char* name : {"lock", "state.json"}) {
    std::vector<InotifyWatch> on_file = watches_on(watches, dir + "/" + name);
    if (on_file.size() != 1) {
      problems << on_file.size() << " watches on " << name << ", not 1\n";
    } else if (on_file[0].mask != IN_CLOSE_WRITE) {
      problems << name << " watched with mask " << std::hex << on_file[0].mask << std::dec
               << ", not IN_CLOSE_WRITE alone\n";
    }
  }
  return problems.str();
}

} // namespace chaperone::test
