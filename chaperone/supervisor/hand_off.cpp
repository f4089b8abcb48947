// chaperone/supervisor/hand_off.cpp: see hand_off.hpp.
#include "chaperone/supervisor/hand_off.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string_view>

namespace chaperone {

namespace {

constexpr const char* k_flag = "--resume";
constexpr std::string_view k_hold_name = "chaperone-hold";

// The link's target in `buffer` (NUL-terminated), or false if it does not fit or fails.
bool read_link(const char* link, char (&buffer)[PATH_MAX]) noexcept {
  ssize_t n = ::readlink(link, buffer, sizeof buffer - 1);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buffer - 1) {
    return false;
  }
  buffer[n] = '\0';
  return true;
}

long long parse_number(const std::string& word, const std::string& text) {
  try {
    std::size_t used = 0;
    long long n = std::stoll(text, &used);
    if (used == text.size() && n >= 0) {
      return n;
    }
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(std::string(k_flag) + ": bad number in \"" + word + "\"");
}

// "3,5,6" (or "" for none).
std::vector<int> parse_fds(const std::string& word, const std::string& text) {
  std::vector<int> fds;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t comma = text.find(',', start);
    std::size_t end = comma == std::string::npos ? text.size() : comma;
    fds.push_back(static_cast<int>(parse_number(word, text.substr(start, end - start))));
    start = end + 1;
  }
  return fds;
}

std::string join_fds(const std::vector<int>& fds) {
  std::string text;
  for (int fd : fds) {
    text += (text.empty() ? "" : ",") + std::to_string(fd);
  }
  return text;
}

bool set_close_on_exec(int fd, bool on) noexcept {
  return ::fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0) == 0;
}

// chaperone-hold beside the supervisor binary at `path` (a buffer of PATH_MAX).
HoldImages open_beside(spool::Fd supervisor, char* path) noexcept {
  HoldImages images;
  images.supervisor = std::move(supervisor);
  std::string_view self(path);
  // Replaced since we started (an upgrade): the chaperone-hold beside it belongs to the new
  // version, whose arguments may differ from what we would pass. No hand-off then.
  if (self.ends_with(" (deleted)")) {
    return images;
  }
  std::size_t slash = self.rfind('/');
  if (slash == std::string_view::npos || slash + 1 + k_hold_name.size() >= PATH_MAX) {
    return images;
  }
  std::memcpy(path + slash + 1, k_hold_name.data(), k_hold_name.size());
  path[slash + 1 + k_hold_name.size()] = '\0';
  images.hold = spool::Fd{::open(path, O_PATH | O_CLOEXEC)};
  return images;
}

} // namespace

HoldImages open_hold_images(const std::string& supervisor_binary) noexcept {
  char path[PATH_MAX];
  if (supervisor_binary.empty()) {
    // /proc/self/exe opens the very file we run, even if it was replaced since.
    spool::Fd supervisor{::open("/proc/self/exe", O_PATH | O_CLOEXEC)};
    if (!supervisor.valid() || !read_link("/proc/self/exe", path)) {
      return {};
    }
    return open_beside(std::move(supervisor), path);
  }
  if (supervisor_binary.size() >= sizeof path) {
    return {};
  }
  std::memcpy(path, supervisor_binary.c_str(), supervisor_binary.size() + 1);
  spool::Fd supervisor{::open(path, O_PATH | O_CLOEXEC)};
  if (!supervisor.valid()) {
    return {};
  }
  return open_beside(std::move(supervisor), path);
}

std::optional<ResumePoint> take_resume_args(std::vector<std::string>& args) {
  if (args.size() < 3 || args[1] != k_flag) {
    return std::nullopt;
  }
  auto count = static_cast<std::size_t>(parse_number(args[2], args[2]));
  if (args.size() < 3 + count) {
    throw std::invalid_argument(std::string(k_flag) + ": " + args[2] + " words expected");
  }
  ResumePoint point;
  for (std::size_t i = 3; i < 3 + count; ++i) {
    const std::string& word = args[i];
    std::size_t equals = word.find('=');
    std::string key = word.substr(0, equals);
    std::string value = equals == std::string::npos ? std::string() : word.substr(equals + 1);
    if (key == "images") {
      std::vector<int> fds = parse_fds(word, value);
      if (fds.size() != 2) {
        throw std::invalid_argument(std::string(k_flag) + ": two fds expected in \"" + word + "\"");
      }
      point.supervisor_fd = fds[0];
      point.hold_fd = fds[1];
    } else if (key == "held") {
      point.held_fds = parse_fds(word, value);
    } else if (key == "deadline_ns") {
      point.deadline_ns = parse_number(word, value);
    } else if (key == "first_kept") {
      point.release.first_kept = parse_number(word, value) != 0;
    } else if (key == "first_to_empty") {
      point.release.first_to_empty = parse_number(word, value) != 0;
    } else {
      throw std::invalid_argument(std::string(k_flag) + ": unknown word \"" + word + "\"");
    }
  }
  if (point.supervisor_fd < 0) {
    throw std::invalid_argument(std::string(k_flag) + ": no images=");
  }
  args.erase(args.begin() + 1, args.begin() + 3 + static_cast<std::ptrdiff_t>(count));
  return point;
}

std::vector<std::string> resume_args(const ResumePoint& point) {
  std::vector<std::string> words{
      "images=" + std::to_string(point.supervisor_fd) + "," + std::to_string(point.hold_fd),
      "held=" + join_fds(point.held_fds),
      "first_kept=" + std::to_string(point.release.first_kept ? 1 : 0),
      "first_to_empty=" + std::to_string(point.release.first_to_empty ? 1 : 0)};
  if (point.deadline_ns) {
    words.push_back("deadline_ns=" + std::to_string(*point.deadline_ns));
  }
  std::vector<std::string> args{k_flag, std::to_string(words.size())};
  args.insert(args.end(), words.begin(), words.end());
  return args;
}

std::int64_t monotonic_ns() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

void block_loop_signals(bool block) noexcept {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGINT);
  ::sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

std::string exec_hold(const HoldImages& images, const HandOff& hand_off) {
  std::vector<int> keep = hand_off.keep_fds;
  keep.push_back(images.supervisor.get());
  keep.push_back(images.hold.get());
  std::string error;
  std::size_t cleared = 0;
  for (; cleared < keep.size(); ++cleared) {
    if (!set_close_on_exec(keep[cleared], false)) {
      error = "fcntl F_SETFD fd " + std::to_string(keep[cleared]) + ": " + std::strerror(errno);
      break;
    }
  }
  if (error.empty()) {
    char path[PATH_MAX];
    std::string name =
        read_link(("/proc/self/fd/" + std::to_string(images.hold.get())).c_str(), path)
            ? std::string(path)
            : std::string(k_hold_name);
    std::vector<std::string> args{name,
                                  "--exe-fd",
                                  std::to_string(images.supervisor.get()),
                                  "--pgid",
                                  std::to_string(hand_off.program_pgid),
                                  "--log",
                                  hand_off.log.string()};
    if (hand_off.deadline_ns) {
      args.insert(args.end(), {"--deadline-ns", std::to_string(*hand_off.deadline_ns)});
    }
    args.emplace_back("--");
    args.insert(args.end(), hand_off.supervisor_argv.begin(), hand_off.supervisor_argv.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ::execveat(images.hold.get(), "", argv.data(), environ, AT_EMPTY_PATH);
    error = "execveat " + name + ": " + std::strerror(errno);
  }
  // Still us: whatever was made inheritable must not leak into a later child (on-exit).
  for (std::size_t i = 0; i < cleared; ++i) {
    (void)set_close_on_exec(keep[i], true);
  }
  return error;
}

} // namespace chaperone
