// tests/tools/argv_dump.cpp: the far side of the quoting tests. Writes what it was started
// with, NUL-separated, so a test can compare it byte for byte with what it asked for:
//   "cwd" NUL <getcwd> NUL
//   for each NAME in $ARGV_DUMP_ENV (comma-separated): "env" NUL NAME NUL ("=" VALUE | "-") NUL
//   "argc" NUL <decimal argc - 1> NUL, then argv[1..] each followed by NUL
// to the file named by $ARGV_DUMP_FILE, else to stdout.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

void put(std::string& out, std::string_view field) {
  out.append(field);
  out.push_back('\0');
}

} // namespace

int main(int argc, char** argv) {
  std::string out;
  char cwd[4096];
  put(out, "cwd");
  put(out, getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?");
  if (const char* names = std::getenv("ARGV_DUMP_ENV")) {
    std::string_view list = names;
    while (!list.empty()) {
      std::size_t comma = list.find(',');
      std::string name(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      put(out, "env");
      put(out, name);
      const char* value = std::getenv(name.c_str());
      put(out, value != nullptr ? "=" + std::string(value) : std::string("-"));
    }
  }
  put(out, "argc");
  put(out, std::to_string(argc - 1));
  for (int i = 1; i < argc; ++i) {
    put(out, argv[i]);
  }
  int fd = 1;
  if (const char* file = std::getenv("ARGV_DUMP_FILE")) {
    fd = ::open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      (void)std::fprintf(stderr, "argv_dump: open %s: %s\n", file, std::strerror(errno));
      return 1;
    }
  }
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      (void)std::fprintf(stderr, "argv_dump: write: %s\n", std::strerror(errno));
      return 1;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}
