// scripts/bench.d/ab.cpp: interleaved A/B timing of whole commands, for comparing two builds
// on a VM whose speed drifts by 10-30% over minutes (docs/bench/LAUNCH-2026-12-03b.md):
// hyperfine measures one command after the other, so a drift lands on one side only.
//
//   g++ -O2 -o ab scripts/bench.d/ab.cpp
//   ab [--samples DIR] N CMD_A [ARGS...] ::: CMD_B [ARGS...] [::: CMD_C ...]
//
// Runs each command N times (after 20 warm-up rounds), one of each per round, rotating which
// goes first, every command started with posix_spawn (an absolute path, no shell) and waited
// for, its stdout on /dev/null (a launch prints its id); a non-zero exit stops everything. Prints
// each command's median, p10 and p90 in ms; with --samples, also writes every time of command K
// (0 for the first) to DIR/K.txt, one number in ms a line, in the order measured (scripts/bench
// makes rows of them).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

double now_ms() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double run_once(std::vector<char*>& argv, const posix_spawn_file_actions_t* actions) {
  double start = now_ms();
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, argv[0], actions, nullptr, argv.data(), environ); rc != 0) {
    std::fprintf(stderr, "ab: posix_spawn %s: %s\n", argv[0], std::strerror(rc));
    std::exit(2);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ab: %s did not exit 0\n", argv[0]);
    std::exit(1);
  }
  return now_ms() - start;
}

} // namespace

int main(int argc, char** argv) {
  std::string samples_dir;
  int first = 1;
  if (argc > 2 && std::strcmp(argv[1], "--samples") == 0) {
    samples_dir = argv[2];
    first = 3;
  }
  if (argc < first + 2) {
    std::fprintf(stderr, "usage: ab [--samples DIR] N CMD [ARGS...] [::: CMD [ARGS...]]...\n");
    return 2;
  }
  int rounds = std::atoi(argv[first]);
  if (rounds < 1) {
    std::fprintf(stderr, "ab: N must be a positive number of rounds, got \"%s\"\n", argv[first]);
    return 2;
  }
  std::vector<std::vector<char*>> commands(1);
  for (int i = first + 1; i < argc; ++i) {
    if (std::strcmp(argv[i], ":::") == 0) {
      commands.emplace_back();
    } else {
      commands.back().push_back(argv[i]);
    }
  }
  for (auto& command : commands) {
    command.push_back(nullptr);
  }
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  std::size_t n = commands.size();
  for (int round = 0; round < 20; ++round) {
    for (auto& command : commands) {
      run_once(command, &quiet);
    }
  }
  std::vector<std::vector<double>> times(n);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t which = (k + static_cast<std::size_t>(round)) % n;
      times[which].push_back(run_once(commands[which], &quiet));
    }
  }
  for (std::size_t k = 0; k < n && !samples_dir.empty(); ++k) {
    std::string path = samples_dir + "/" + std::to_string(k) + ".txt";
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out != nullptr) {
      for (double ms : times[k]) {
        std::fprintf(out, "%.6f\n", ms);
      }
    }
    if (out == nullptr || std::fclose(out) != 0) {
      std::fprintf(stderr, "ab: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
      return 2;
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    std::vector<double>& t = times[k];
    std::sort(t.begin(), t.end());
    std::string label;
    for (char** arg = commands[k].data(); *arg != nullptr; ++arg) {
      label += (label.empty() ? "" : " ") + std::string(*arg);
    }
    if (label.size() > 60) {
      label = label.substr(0, 57) + "...";
    }
    std::printf("%-60s median %.3f p10 %.3f p90 %.3f\n",
                label.c_str(),
                t[t.size() / 2],
                t[t.size() / 10],
                t[9 * t.size() / 10]);
  }
  return 0;
}
