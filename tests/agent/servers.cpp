// tests/agent/servers.cpp: callback servers, CA and small process helpers.
#include "tests/agent/servers.hpp"

#include "tests/support/process_info.hpp"
#include "tests/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

extern char** environ;

namespace chaperone::test {

namespace {

pid_t spawn(const std::vector<std::string>& argv,
            const std::string& stdin_path,
            const std::string& out_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(
      &actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("posix_spawnp " + argv[0] + ": " + std::strerror(rc));
  }
  return pid;
}

std::string read_or_empty(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return {};
  }
  return read_whole_file(path);
}

} // namespace

CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_path) {
  char name[] = "/tmp/chap-agent-cmd.XXXXXX";
  int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  ::close(fd);
  pid_t pid = spawn(argv, stdin_path, name);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_whole_file(name);
  ::unlink(name);
  return result;
}

TestCa::TestCa(const std::filesystem::path& dir) {
  ca_cert = dir / "ca.pem";
  std::filesystem::path ca_key = dir / "ca.key";
  server_cert = dir / "server.pem";
  server_key = dir / "server.key";
  std::filesystem::path csr = dir / "server.csr";
  std::filesystem::path ext = dir / "server.ext";
  write_whole_file(ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  std::vector<std::vector<std::string>> steps = {{"openssl",
                                                  "req",
                                                  "-x509",
                                                  "-newkey",
                                                  "ec",
                                                  "-pkeyopt",
                                                  "ec_paramgen_curve:prime256v1",
                                                  "-nodes",
                                                  "-keyout",
                                                  ca_key.string(),
                                                  "-out",
                                                  ca_cert.string(),
                                                  "-days",
                                                  "2",
                                                  "-subj",
                                                  "/CN=chaperone test CA"},
                                                 {"openssl",
                                                  "req",
                                                  "-newkey",
                                                  "ec",
                                                  "-pkeyopt",
                                                  "ec_paramgen_curve:prime256v1",
                                                  "-nodes",
                                                  "-keyout",
                                                  server_key.string(),
                                                  "-out",
                                                  csr.string(),
                                                  "-subj",
                                                  "/CN=127.0.0.1"},
                                                 {"openssl",
                                                  "x509",
                                                  "-req",
                                                  "-in",
                                                  csr.string(),
                                                  "-CA",
                                                  ca_cert.string(),
                                                  "-CAkey",
                                                  ca_key.string(),
                                                  "-CAcreateserial",
                                                  "-out",
                                                  server_cert.string(),
                                                  "-days",
                                                  "2",
                                                  "-extfile",
                                                  ext.string()}};
  for (const auto& step : steps) {
    CommandResult r = run_command(step);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
  }
}

CallbackServer::CallbackServer(const std::filesystem::path& dir, ServerOptions options)
    : m_dir(dir), m_tls(options.tls != nullptr) {
  std::filesystem::create_directories(dir);
  std::filesystem::path port_file = dir / "port";
  std::vector<std::string> argv = {"python3",
                                   agent_test_dir() + "/callback_server.py",
                                   "--dir",
                                   dir.string(),
                                   "--port-file",
                                   port_file.string()};
  if (options.tls != nullptr) {
    argv.insert(argv.end(),
                {"--tls", options.tls->server_cert.string(), options.tls->server_key.string()});
  }
  if (!options.token.empty()) {
    argv.insert(argv.end(), {"--token", options.token});
  }
  argv.insert(argv.end(), options.extra.begin(), options.extra.end());
  m_pid = spawn(argv, "/dev/null", (dir / "server.out").string());
  // A generous deadline: python's start-up is slow on a loaded machine, and a deadline only
  // bounds how long a real failure takes to show.
  bool listening = wait_until(deadline_in(std::chrono::seconds(120)),
                              "the callback server's port",
                              [&] { return std::filesystem::exists(port_file); });
  if (!listening) {
    // The destructor never runs for a constructor that throws: end the server here.
    ::kill(m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_pid = -1;
  }
  REQUIRE(listening);
  m_port = std::stoi(read_whole_file(port_file));
}

CallbackServer::~CallbackServer() {
  if (m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string CallbackServer::url(const std::string& prefix) const {
  return std::string(m_tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(m_port) + "/"
         + prefix;
}

std::string CallbackServer::file(const std::string& prefix, const std::string& suffix) const {
  std::string key = prefix;
  for (char& c : key) {
    if (c == '/') {
      c = '_';
    }
  }
  return (m_dir / (key + "." + suffix)).string();
}

std::string CallbackServer::received(const std::string& prefix, const std::string& stream) const {
  return read_or_empty(file(prefix, stream));
}

std::uint64_t CallbackServer::received_size(const std::string& prefix,
                                            const std::string& stream) const {
  std::error_code error;
  std::uintmax_t size = std::filesystem::file_size(file(prefix, stream), error);
  return error ? 0 : static_cast<std::uint64_t>(size);
}

std::vector<nlohmann::json> CallbackServer::completed(const std::string& prefix) const {
  std::vector<nlohmann::json> bodies;
  std::istringstream lines(read_or_empty(file(prefix, "completed")));
  std::string line;
  while (std::getline(lines, line)) {
    bodies.push_back(nlohmann::json::parse(line));
  }
  return bodies;
}

std::string CallbackServer::gaps(const std::string& prefix) const {
  return read_or_empty(file(prefix, "gaps"));
}

std::vector<std::string> CallbackServer::requests() const {
  std::vector<std::string> lines;
  std::istringstream in(read_or_empty(m_dir / "requests.log"));
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

std::string agent_test_dir() {
  return CHAPERONE_AGENT_TEST_DIR;
}

std::vector<pid_t> sender_pids(const std::filesystem::path& run_dir) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::string cmdline = read_proc_file(std::stoi(name), "cmdline");
    std::string expected = std::string("chaperone-callback") + '\0' + run_dir.string() + '\0';
    if (cmdline.size() >= expected.size()
        && cmdline.compare(cmdline.size() - expected.size(), expected.size(), expected) == 0) {
      // Not a zombie (an exited sender not yet reaped by its parent).
      std::string line = read_proc_file(std::stoi(name), "stat");
      std::size_t close = line.rfind(')');
      if (close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z') {
        pids.push_back(std::stoi(name));
      }
    }
  }
  return pids;
}

bool sender_lock_free(const std::filesystem::path& run_dir) {
  int fd = ::open((run_dir / "callback.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return true;
  }
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

} // namespace chaperone::test
