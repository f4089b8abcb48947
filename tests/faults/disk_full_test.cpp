// tests/faults/disk_full_test.cpp: the spool's file system fills up (a 1 MiB tmpfs in a
// private mount namespace), or the program hits RLIMIT_FSIZE: the run still ends with a
// parseable final state that tells the truth, and `run` on a full spool creates nothing.
#include "tests/faults/faults_common.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace chaperone::test;
using namespace chaperone::test::faults;

namespace {

// A size-limited tmpfs at `dir`, seen only by this process and its children (a private mount
// namespace: the mount goes away with us), unmounted again by the destructor.
class SmallTmpfs {
public:
  SmallTmpfs(const std::filesystem::path& dir, const std::string& size) : m_dir(dir) {
    if (::unshare(CLONE_NEWNS) != 0) {
      throw std::runtime_error(std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      throw std::runtime_error(std::string("make / private: ") + std::strerror(errno));
    }
    std::filesystem::create_directory(dir);
    std::string options = "size=" + size + ",mode=0700";
    if (::mount("chaperone-faults", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      throw std::runtime_error("mount tmpfs on " + dir.string() + ": " + std::strerror(errno));
    }
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  SmallTmpfs(SmallTmpfs&&) = delete;
  SmallTmpfs& operator=(SmallTmpfs&&) = delete;
  ~SmallTmpfs() { ::umount2(m_dir.c_str(), MNT_DETACH); }

private:
  std::filesystem::path m_dir;
};

// Fills the file system holding `path` with one file until ENOSPC.
void fill_up(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::string block(4096, 'f');
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) {
      CHECK(errno == ENOSPC);
      break;
    }
  }
  ::close(fd);
}

RunOptions on_root(const std::filesystem::path& root) {
  RunOptions options;
  options.spool_value = root.string();
  options.deadline = 30s;
  return options;
}

} // namespace

TEST_CASE("a program that fills the spool's disk ends with a true, parseable final state",
          "[faults][integration][disk-full]") {
  TempSpool spool;
  std::filesystem::path mount_point = spool.scratch() / "tmpfs";
  SmallTmpfs tmpfs(mount_point, "1m");
  std::filesystem::path root = mount_point / "spool";
  RunOptions options = on_root(root);

  // 200000 lines are 2.4 MB: far past the 1 MiB. The program sees ENOSPC and exits 7.
  std::vector<std::string> args{"run", "--name", "filler", "--"};
  for (const std::string& a : seq_program(200000, 7, 500, 0, false)) {
    args.push_back(a);
  }
  RunResult r = run_chaperone(spool, args, options);
  INFO("front end stderr: " << r.err);
  CHECK(r.exit_code == 7);
  std::filesystem::path dir = root / "filler";
  nlohmann::json st;
  REQUIRE_NOTHROW(st = nlohmann::json::parse(read_whole_file(dir / "state.json")));
  INFO("state " << st.dump());
  CHECK(st["state"] == "exited");
  CHECK(st["return_code"] == 7);
  CHECK(st["exit_code"] == 7);
  CHECK(st.value("spool_disk_full", false));
  std::string out = read_whole_file(dir / "stdout");
  CHECK(out.size() > 500000);
  CHECK(st["output"]["stdout"] == out.size());
  std::string want = seq_stdout(200000);
  CHECK(want.compare(0, out.size(), out) == 0); // what was kept is an intact prefix
  CHECK(r.out == out);
  // No temp files of the atomic state write are left behind.
  // (readers: the followers' mark that keeps `gc` away, spool/reader_mark.hpp; the
  // .state.replaced.N: earlier states the supervisor keeps rather than free, ReleaseLater.)
  for (const std::string& name : tree(dir)) {
    INFO("file in the run dir: " << name);
    CHECK((name == "spec.json" || name == "state.json" || name == "stdout" || name == "stderr"
           || name == "lock" || name == "supervisor.log" || name == ".state.reserve"
           || name == "readers" || name == ".state.replaced.1" || name == ".state.replaced.2"));
  }

  // Readers still work on the full disk.
  RunResult status = run_chaperone(spool, {"status", "--json", "filler"}, options);
  CHECK(status.exit_code == 0);
  RunResult attach = run_chaperone(spool, {"attach", "filler"}, options);
  CHECK(attach.exit_code == 7);
  CHECK(attach.out == out);

  // Fill what is left (the released reserve), then a new run is refused, creating nothing.
  fill_up(mount_point / "filler-file");
  std::vector<std::string> before = tree(root);
  int refused = 0;
  for (const std::vector<std::string>& run_args :
       std::vector<std::vector<std::string>>{{"run", "--", "true"},
                                             {"run", "-d", "--", "true"},
                                             {"run", "--name", "second", "--", "true"},
                                             {"run", "-d", "--name", "third", "--", "true"}}) {
    RunResult refusal = run_chaperone(spool, run_args, options);
    INFO(shown(run_args) << " stderr: " << refusal.err);
    CHECK(refusal.exit_code == 125);
    CHECK(refusal.err_lines().size() == 1);
    CHECK(refusal.err.find("No space left") != std::string::npos);
    CHECK(tree(root) == before);
    refused += refusal.exit_code == 125 ? 1 : 0;
  }
  WARN("disk full: the run ended exited 7 with " << out.size()
                                                 << " bytes kept and spool_disk_full; " << refused
                                                 << " runs refused on the full spool");
}

TEST_CASE("a state write that finds the disk full uses the reserve, keeping the state final",
          "[faults][integration][disk-full]") {
  // The disk fills up while the program sleeps, from outside (another tenant): the program
  // itself writes nothing more, and the supervisor's final state write must still land.
  TempSpool spool;
  std::filesystem::path mount_point = spool.scratch() / "tmpfs";
  SmallTmpfs tmpfs(mount_point, "1m");
  std::filesystem::path root = mount_point / "spool";
  RunOptions options = on_root(root);
  std::filesystem::path gate = spool.scratch() / "gate";
  RunResult d = run_chaperone(spool,
                              {"run",
                               "-d",
                               "--name",
                               "sleeper",
                               "--",
                               "sh",
                               "-c",
                               "echo started; while [ ! -e \"$0\" ]; do sleep 0.02; done; exit 5",
                               gate.string()},
                              options);
  REQUIRE(d.exit_code == 0);
  std::filesystem::path dir = root / "sleeper";
  REQUIRE(wait_until(deadline_in(20s), "the program to start", [&] {
    return read_whole_file(dir / "stdout") == "started\n";
  }));
  fill_up(mount_point / "filler-file");
  write_whole_file(gate, "");
  RunResult w = run_chaperone(spool, {"wait", "sleeper"}, options);
  CHECK(w.exit_code == 5);
  nlohmann::json st;
  REQUIRE_NOTHROW(st = nlohmann::json::parse(read_whole_file(dir / "state.json")));
  INFO("state " << st.dump());
  CHECK(st["state"] == "exited");
  CHECK(st["exit_code"] == 5);
  CHECK(st.value("spool_disk_full", false));
  CHECK(st["output"]["stdout"] == 8);
}

TEST_CASE("a program past RLIMIT_FSIZE dies of SIGXFSZ and the run records exactly the limit",
          "[faults][integration][disk-full]") {
  TempSpool spool;
  RunOptions options;
  options.wrapper = {"prlimit", "--fsize=300000", "--"};
  std::vector<std::string> args{"run", "--name", "fsize", "--"};
  for (const std::string& a : seq_program(100000, 0, 1000, 0, false)) {
    args.push_back(a);
  }
  RunResult r = run_chaperone(spool, args, options);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 128 + SIGXFSZ);
  nlohmann::json st = spool.state("fsize");
  CHECK(st["state"] == "signaled");
  CHECK(st["signal"] == SIGXFSZ);
  CHECK(st["output"]["stdout"] == 300000);
  std::string out = spool.output("fsize", "stdout");
  CHECK(out.size() == 300000);
  CHECK(out == seq_stdout(100000).substr(0, 300000));
}
