// scripts/bench.d/probe.cpp: the small programs scripts/bench measures with, in one binary.
//
//   probe write block|line BYTES    write BYTES to stdout: 64 KiB write(2)s of zeros, or
//                                   128-byte lines, one write(2) per line
//   probe produce COUNT INTERVAL_MS [DELAY_MS]
//                                   write "TS <CLOCK_MONOTONIC ns> <seq>" lines, one write(2)
//                                   each, at absolute deadlines INTERVAL_MS apart
//   probe consume COUNT OUT         read stdin until COUNT "TS" lines arrived; write each
//                                   line's delay (now - stamp, microseconds) to OUT, one a line
//   probe statfloor ROOT             readdir ROOT and fstatat state.json and spec.json of each
//                                    run: the floor of `chaperone ls` (section 7)
//   probe statfloor2 ROOT            the same with the stats shared by two threads
//   probe synth SRC_DIR ROOT FIRST COUNT
//                                   create COUNT finished runs in ROOT by copying the files of
//                                   the finished run SRC_DIR, with run_id, start_time and
//                                   end_time rewritten (ids shifted back one second per run)
//   probe durable ROOT PROGRAM [ARGS...]
//                                   the floor of an attached run that keeps its final state
//                                   durably: run PROGRAM and wait for it, then in a new dir
//                                   under ROOT write its status to a temp file, fsync it,
//                                   rename it into place and fsync the dir; exit with the
//                                   program's status
//   probe durable-detached ROOT PROGRAM [ARGS...]
//                                   the same under a detached holder, chaperone's shape: a
//                                   forked child (no exec) in its own session runs PROGRAM
//                                   and writes the durable status; the caller waits for the
//                                   holder and exits with the program's status
//   probe launch-detached ROOT PROGRAM [ARGS...]
//                                   the floor of `chaperone run -d`'s guarantees: before it
//                                   returns, the run is visible under ROOT with its spec, its
//                                   state, its output files, a 64 KiB reserve for the final
//                                   state and a lock held by a live holder (staged in a temp
//                                   dir, renamed into place). The holder, a forked child (no
//                                   exec) in its own session, forks PROGRAM's process, which
//                                   replaces the state by `running` with its pid and group
//                                   before it execs PROGRAM on the output files; the holder waits
//                                   and replaces it by the exit status durably, as chaperone
//                                   does: the temp file and spec.json fsynced together, the
//                                   rename, the run dir and ROOT fsynced together.
//                                   Prints the run's name; does not wait
//   probe launch-attached ROOT PROGRAM [ARGS...]
//                                   the same, then waits for the holder and exits with the
//                                   program's status: the floor of an attached `chaperone run`
//   probe freecost DIR ROUNDS        what freeing blocks costs on DIR's file system (issue 15:
//                                   ext4 mounted with discard waits for each free): the median
//                                   microseconds of fsync of a new 600-byte file, ftruncate
//                                   of a 64 KiB fallocated file to 600 bytes, rename over an
//                                   existing written-out file and rename to a new name
//
// Built by scripts/bench with g++ -O2; no dependency beyond the C++ standard library.
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "probe: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      die("write");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int cmd_write(const std::string& mode, std::uint64_t bytes) {
  if (mode == "block") {
    std::vector<char> block(64 * 1024, '\0');
    while (bytes > 0) {
      size_t n = bytes < block.size() ? static_cast<size_t>(bytes) : block.size();
      write_all(1, block.data(), n);
      bytes -= n;
    }
    return 0;
  }
  if (mode == "line") {
    std::string line(127, 'x');
    line += '\n';
    while (bytes > 0) {
      size_t n = bytes < line.size() ? static_cast<size_t>(bytes) : line.size();
      write_all(1, line.data(), n);
      bytes -= n;
    }
    return 0;
  }
  std::fprintf(stderr, "probe write: block or line, not %s\n", mode.c_str());
  return 2;
}

int cmd_produce(long count, long interval_ms, long start_delay_ms) {
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  // The first deadline lies start_delay_ms ahead, so that a follower started just after us is
  // watching before the first line (else its first delays measure its own start-up).
  next.tv_sec += start_delay_ms / 1000;
  next.tv_nsec += (start_delay_ms % 1000) * 1000000;
  for (long i = 0; i < count; ++i) {
    next.tv_nsec += interval_ms * 1000000;
    while (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      ++next.tv_sec;
    }
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
    }
    char line[64];
    int n = std::snprintf(line, sizeof line, "TS %lld %ld\n", static_cast<long long>(now_ns()), i);
    write_all(1, line, static_cast<size_t>(n));
  }
  return 0;
}

int cmd_consume(long count, const char* out_path) {
  std::vector<double> delays_us;
  delays_us.reserve(static_cast<size_t>(count));
  std::string pending;
  char buffer[65536];
  while (static_cast<long>(delays_us.size()) < count) {
    ssize_t n = ::read(0, buffer, sizeof buffer);
    std::int64_t arrived = now_ns();
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      die("read stdin");
    }
    if (n == 0) {
      break;
    }
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      // nq's and tsp's logs carry their own header lines: only ours count.
      if (pending.compare(start, 3, "TS ") == 0) {
        long long stamp = std::strtoll(pending.c_str() + start + 3, nullptr, 10);
        delays_us.push_back(static_cast<double>(arrived - stamp) / 1000.0);
      }
    }
    pending.erase(0, start);
  }
  FILE* out = std::fopen(out_path, "w");
  if (out == nullptr) {
    die(std::string("fopen ") + out_path);
  }
  for (double d : delays_us) {
    std::fprintf(out, "%.3f\n", d);
  }
  std::fclose(out);
  if (static_cast<long>(delays_us.size()) < count) {
    std::fprintf(stderr, "probe consume: EOF after %zu of %ld lines\n", delays_us.size(), count);
    return 1;
  }
  return 0;
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    die("open " + path);
  }
  std::string text;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      die("read " + path);
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// The string value of "key": "value" in a JSON text (state.json is ours; no escapes in it).
std::string json_string_field(const std::string& text, const std::string& key) {
  size_t at = text.find("\"" + key + "\": \"");
  if (at == std::string::npos) {
    return {};
  }
  at += key.size() + 5;
  return text.substr(at, text.find('"', at) - at);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) {
    return;
  }
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
}

std::string format_id(std::time_t t, long micros, long serial) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer,
                sizeof buffer,
                "%04d%02d%02dT%02d%02d%02d.%06ldZ-%06lx",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                micros,
                serial & 0xffffff);
  return buffer;
}

std::string format_iso(std::time_t t, long micros) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer,
                sizeof buffer,
                "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                micros);
  return buffer;
}

void write_new_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open " + path);
  }
  write_all(fd, text.data(), text.size());
  ::close(fd);
}

// A state.json-sized text: a JSON object of FIELDS, padded with spaces to SIZE bytes.
std::string state_text(const std::string& fields, std::size_t size) {
  std::string text = "{" + fields + "}";
  text.resize(std::max(size, text.size()), ' ');
  return text;
}

int open_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    die("open " + dir);
  }
  return fd;
}

int cmd_synth(const std::string& src, const std::string& root, long first, long count) {
  struct SourceFile {
    std::string name;
    std::string text;
  };
  std::vector<SourceFile> files;
  DIR* dir = ::opendir(src.c_str());
  if (dir == nullptr) {
    die("opendir " + src);
  }
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') {
      files.push_back({entry->d_name, read_file(src + "/" + entry->d_name)});
    }
  }
  ::closedir(dir);
  std::string state;
  for (const SourceFile& f : files) {
    if (f.name == "state.json") {
      state = f.text;
    }
  }
  std::string old_id = json_string_field(state, "run_id");
  std::string old_start = json_string_field(state, "start_time");
  std::string old_end = json_string_field(state, "end_time");
  if (old_id.empty() || old_start.empty() || old_end.empty()) {
    std::fprintf(stderr, "probe synth: %s/state.json is not a finished run\n", src.c_str());
    return 1;
  }
  std::time_t base = std::time(nullptr) - 86400;
  for (long i = first; i < first + count; ++i) {
    std::time_t t = base - i;
    std::string id = format_id(t, i % 1000000, i);
    std::string start = format_iso(t, i % 1000000);
    std::string end = format_iso(t + 1, i % 1000000);
    std::string run = root + "/" + id;
    if (::mkdir(run.c_str(), 0700) != 0) {
      die("mkdir " + run);
    }
    for (const SourceFile& f : files) {
      std::string text = f.text;
      replace_all(text, old_id, id);
      replace_all(text, old_start, start);
      replace_all(text, old_end, end);
      write_new_file(run + "/" + f.name, text);
    }
  }
  return 0;
}

// Waits for PID; its exit code, or 128 + the signal that ended it.
int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      die("waitpid");
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// PREFIX.PID.NANOSECONDS: a name no other probe of this machine uses at the same time.
std::string unique_name(const std::string& prefix) {
  return prefix + "." + std::to_string(::getpid()) + "." + std::to_string(now_ns());
}

int cmd_durable(const std::string& root, char** program) {
  pid_t pid = 0;
  if (int rc = ::posix_spawnp(&pid, program[0], nullptr, nullptr, program, environ); rc != 0) {
    errno = rc;
    die(std::string("spawn ") + program[0]);
  }
  int code = wait_for_exit(pid);
  std::string dir = root + "/" + unique_name("floor");
  if (::mkdir(dir.c_str(), 0700) != 0) {
    die("mkdir " + dir);
  }
  std::string temp = dir + "/.state.json.tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open " + temp);
  }
  std::string text = state_text("\"exit_code\": " + std::to_string(code), 600);
  write_all(fd, text.data(), text.size());
  if (::fsync(fd) != 0) {
    die("fsync " + temp);
  }
  ::close(fd);
  if (::rename(temp.c_str(), (dir + "/state.json").c_str()) != 0) {
    die("rename " + temp);
  }
  int dfd = open_dir(dir);
  if (::fsync(dfd) != 0) {
    die("fsync " + dir);
  }
  ::close(dfd);
  return code;
}

int cmd_durable_detached(const std::string& root, char** program) {
  pid_t holder = ::fork();
  if (holder < 0) {
    die("fork");
  }
  if (holder == 0) {
    if (::setsid() < 0) {
      die("setsid");
    }
    ::_exit(cmd_durable(root, program));
  }
  return wait_for_exit(holder);
}

// The floor of `chaperone ls` over indexed runs: one readdir of ROOT and an fstatat of
// state.json and spec.json per run (what it must look at to notice damage), nothing else.
int cmd_statfloor(const std::string& root) {
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) {
    die("opendir " + root);
  }
  long found = 0;
  std::string path;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    for (const char* name : {"/state.json", "/spec.json"}) {
      path.assign(entry->d_name).append(name);
      struct stat st {};
      found += ::fstatat(::dirfd(dir), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : 0;
    }
  }
  ::closedir(dir);
  std::printf("%ld\n", found);
  return 0;
}

// The same on two threads (what `ls` does from some 200 runs on a machine with two CPUs): one
// readdir, then both threads take chunks of 256 runs to stat.
int cmd_statfloor2(const std::string& root) {
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) {
    die("opendir " + root);
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') {
      names.emplace_back(entry->d_name);
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<long> found{0};
  auto work = [&] {
    std::string path;
    long mine = 0;
    for (size_t first; (first = next.fetch_add(256)) < names.size();) {
      for (size_t i = first; i < std::min(first + 256, names.size()); ++i) {
        for (const char* name : {"/state.json", "/spec.json"}) {
          path.assign(names[i]).append(name);
          struct stat st {};
          mine += ::fstatat(::dirfd(dir), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : 0;
        }
      }
    }
    found += mine;
  };
  std::thread other(work);
  work();
  other.join();
  ::closedir(dir);
  std::printf("%ld\n", found.load());
  return 0;
}

long long now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int new_file(const std::string& path, size_t bytes) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open " + path);
  }
  std::string text(bytes, 'x');
  write_all(fd, text.data(), text.size());
  return fd;
}

int cmd_freecost(const std::string& dir, long rounds) {
  std::vector<long long> fsyncs;
  std::vector<long long> truncates;
  std::vector<long long> replaces;
  std::vector<long long> fresh;
  const std::string a = dir + "/freecost.a";
  const std::string b = dir + "/freecost.b";
  const std::string c = dir + "/freecost.c";
  for (long i = 0; i < rounds; ++i) {
    int fd = new_file(a, 600);
    long long t0 = now_us();
    if (::fsync(fd) != 0) {
      die("fsync " + a);
    }
    fsyncs.push_back(now_us() - t0);
    ::close(fd);
    // a is on the disk now; b replaces it: the rename frees a's block.
    fd = new_file(b, 600);
    ::fsync(fd);
    ::close(fd);
    t0 = now_us();
    if (::rename(b.c_str(), a.c_str()) != 0) {
      die("rename " + b);
    }
    replaces.push_back(now_us() - t0);
    fd = new_file(b, 600);
    ::close(fd);
    t0 = now_us();
    if (::rename(b.c_str(), c.c_str()) != 0) {
      die("rename " + b);
    }
    fresh.push_back(now_us() - t0);
    fd = ::open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::posix_fallocate(fd, 0, 65536) != 0) {
      die("fallocate " + b);
    }
    t0 = now_us();
    if (::ftruncate(fd, 600) != 0) {
      die("ftruncate " + b);
    }
    truncates.push_back(now_us() - t0);
    ::close(fd);
    ::unlink(a.c_str());
    ::unlink(b.c_str());
    ::unlink(c.c_str());
  }
  auto median = [](std::vector<long long> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  };
  std::printf("fsync of a new 600-byte file: %lld us\n", median(fsyncs));
  std::printf("ftruncate of a fallocated 64 KiB file to 600 bytes: %lld us\n", median(truncates));
  std::printf("rename over an existing file on the disk: %lld us\n", median(replaces));
  std::printf("rename to a new name: %lld us\n", median(fresh));
  return 0;
}

// Replaces DIR/state.json by a new file holding TEXT (temp file, rename). DURABLE does what
// a durable final state needs once sync_launch() has run: the temp file fsynced before the
// rename, DIR (the rename) after it.
void replace_state(const std::string& dir, const std::string& text, bool durable) {
  std::string temp = dir + "/.state.json.tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open " + temp);
  }
  write_all(fd, text.data(), text.size());
  if (durable && ::fsync(fd) != 0) {
    die("fsync " + temp);
  }
  ::close(fd);
  if (::rename(temp.c_str(), (dir + "/state.json").c_str()) != 0) {
    die("rename " + temp);
  }
  if (durable) {
    int dir_fd = open_dir(dir);
    if (::fsync(dir_fd) != 0) {
      die("fsync " + dir);
    }
    ::close(dir_fd);
  }
}

// fsync()s DIR/spec.json, then DIR's parent (the spool root).
void sync_launch(const std::string& dir) {
  std::string spec = dir + "/spec.json";
  int spec_fd = ::open(spec.c_str(), O_RDONLY | O_CLOEXEC);
  if (spec_fd < 0 || ::fsync(spec_fd) != 0) {
    die("fsync " + spec);
  }
  ::close(spec_fd);
  std::string root = dir.substr(0, dir.rfind('/'));
  int root_fd = open_dir(root);
  if (::fsync(root_fd) != 0) {
    die("fsync " + root);
  }
  ::close(root_fd);
}

// The holder of a launched run: it has the run's lock (inherited), runs PROGRAM into the run's
// output files, and writes the final state durably. PROGRAM starts only once state.json says
// `running` with its pid and group, as chaperone's does (a holder killed at any moment after
// the fork leaves a recorded group for a reader to end): the cheapest way to that is the
// forked child writing it itself, before its exec, with no hand-shake.
int hold_run(const std::string& dir, char** program) {
  if (::setsid() < 0) {
    die("setsid");
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    die("fork");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    std::string me = std::to_string(::getpid());
    replace_state(dir,
                  state_text("\"state\": \"running\", \"pid\": " + me + ", \"pgid\": " + me, 600),
                  false);
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open((dir + "/stdout").c_str(), O_WRONLY | O_APPEND);
    int err = ::open((dir + "/stderr").c_str(), O_WRONLY | O_APPEND);
    if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0
        || ::dup2(err, 2) < 0) {
      ::_exit(127);
    }
    ::execvp(program[0], program);
    ::_exit(127);
  }
  // spec.json and the root's entry for the run (the publication's rename) are made durable
  // while the program starts, where they cost the final state nothing (chaperone does the
  // same since e06e441); the final state then syncs only its file and the run dir.
  sync_launch(dir);
  int code = wait_for_exit(pid);
  replace_state(
      dir, state_text("\"state\": \"exited\", \"exit_code\": " + std::to_string(code), 770), true);
  return code;
}

// `launch-detached` and `launch-attached`: see the comment at the top.
int cmd_launch(const std::string& root, char** program, bool attached) {
  std::string name = unique_name("run");
  std::string staged = root + "/." + name + ".XXXXXX";
  if (::mkdtemp(staged.data()) == nullptr) {
    die("mkdtemp " + staged);
  }
  int lock = ::open((staged + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    die("lock " + staged);
  }
  std::string argv_json;
  for (char** arg = program; *arg != nullptr; ++arg) {
    argv_json += std::string(argv_json.empty() ? "" : ", ") + "\"" + *arg + "\"";
  }
  // About the sizes of chaperone's spec.json and first state.json.
  std::string spec = "{\"argv\": [" + argv_json + "]}";
  spec.resize(std::max<std::size_t>(470, spec.size()), ' ');
  write_new_file(staged + "/stdout", "");
  write_new_file(staged + "/stderr", "");
  int reserve =
      ::open((staged + "/.state.reserve").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (reserve < 0 || ::fallocate(reserve, FALLOC_FL_KEEP_SIZE, 0, 65536) != 0) {
    die("reserve " + staged);
  }
  ::close(reserve);
  write_new_file(staged + "/spec.json", spec);
  write_new_file(staged + "/state.json", state_text("\"state\": \"starting\"", 560));
  std::string dir = root + "/" + name;
  if (::rename(staged.c_str(), dir.c_str()) != 0) {
    die("rename " + staged);
  }
  pid_t holder = ::fork();
  if (holder < 0) {
    die("fork");
  }
  if (holder == 0) {
    ::_exit(hold_run(dir, program)); // keeps the lock: no exec, so CLOEXEC does not matter
  }
  ::close(lock);
  if (!attached) {
    std::printf("%s\n", name.c_str());
    return 0;
  }
  return wait_for_exit(holder);
}

int usage() {
  std::fprintf(stderr,
               "usage: probe write block|line BYTES | produce COUNT INTERVAL_MS [DELAY_MS] | "
               "consume COUNT OUT"
               " | synth SRC_DIR ROOT FIRST COUNT | durable ROOT PROGRAM [ARGS...]"
               " | durable-detached ROOT PROGRAM [ARGS...]"
               " | launch-detached|launch-attached ROOT PROGRAM [ARGS...]"
               " | statfloor ROOT | statfloor2 ROOT | freecost DIR ROUNDS\n");
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "write") {
    return cmd_write(args[1], std::strtoull(args[2].c_str(), nullptr, 10));
  }
  if ((args.size() == 3 || args.size() == 4) && args[0] == "produce") {
    long delay = args.size() == 4 ? std::atol(args[3].c_str()) : 0;
    return cmd_produce(std::atol(args[1].c_str()), std::atol(args[2].c_str()), delay);
  }
  if (args.size() == 3 && args[0] == "consume") {
    return cmd_consume(std::atol(args[1].c_str()), args[2].c_str());
  }
  if (args.size() == 5 && args[0] == "synth") {
    return cmd_synth(args[1], args[2], std::atol(args[3].c_str()), std::atol(args[4].c_str()));
  }
  if (args.size() >= 3 && args[0] == "durable-detached") {
    return cmd_durable_detached(args[1], argv + 3);
  }
  if (args.size() >= 3 && (args[0] == "launch-detached" || args[0] == "launch-attached")) {
    return cmd_launch(args[1], argv + 3, args[0] == "launch-attached");
  }
  if (args.size() >= 3 && args[0] == "durable") {
    return cmd_durable(args[1], argv + 3);
  }
  if (args.size() == 2 && args[0] == "statfloor") {
    return cmd_statfloor(args[1]);
  }
  if (args.size() == 2 && args[0] == "statfloor2") {
    return cmd_statfloor2(args[1]);
  }
  if (args.size() == 3 && args[0] == "freecost") {
    return cmd_freecost(args[1], std::atol(args[2].c_str()));
  }
  return usage();
}
