// chaperone/supervisor/process_title.cpp: see process_title.hpp.
#include "chaperone/supervisor/process_title.hpp"

#include "spool/fd.hpp"

#include <fcntl.h>
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace chaperone {

namespace {

std::string failed(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// The numeric fields of /proc/self/stat from field 3 (state) on, by field number (proc(5)).
class StatFields {
public:
  bool read() {
    spool::Fd fd{::open("/proc/self/stat", O_RDONLY | O_CLOEXEC)};
    if (!fd.valid()) {
      return false;
    }
    char text[1024];
    ssize_t n = ::read(fd.get(), text, sizeof text - 1);
    if (n <= 0) {
      return false;
    }
    text[n] = '\0';
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    char* at = std::strrchr(text, ')');
    if (at == nullptr) {
      return false;
    }
    at += 2; // ") "
    for (m_count = 3; m_count < k_max && *at != '\0'; ++m_count) {
      char* end = nullptr;
      m_fields[m_count] = std::strtoull(at, &end, 10);
      if (end == at) {
        m_fields[m_count] = 0; // the state letter
        end = at + 1;
      }
      at = *end == ' ' ? end + 1 : end;
    }
    return m_count > 51;
  }
  unsigned long long field(int number) const { return m_fields[number]; }

private:
  static constexpr int k_max = 64;
  unsigned long long m_fields[k_max] = {};
  int m_count = 0;
};

} // namespace

bool process_title_supported() {
  unsigned int size = 0;
  return ::prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0) == 0 && size == sizeof(prctl_mm_map);
}

std::string set_process_title(const std::vector<std::string>& argv, char** env) {
  if (argv.empty()) {
    errno = EINVAL;
    return failed("set_process_title");
  }
  StatFields stat;
  if (!stat.read()) {
    return failed("read /proc/self/stat");
  }
  std::size_t args_size = 0;
  for (const std::string& arg : argv) {
    args_size += arg.size() + 1;
  }
  std::size_t env_size = 0;
  for (char** entry = env; entry != nullptr && *entry != nullptr; ++entry) {
    env_size += std::strlen(*entry) + 1;
  }
  // Never freed: the kernel reads both from here until we exit or exec. The environment
  // follows the arguments, as the kernel lays them out at an exec.
  char* area = new char[args_size + env_size];
  char* at = area;
  for (const std::string& arg : argv) {
    std::memcpy(at, arg.c_str(), arg.size() + 1);
    at += arg.size() + 1;
  }
  for (char** entry = env; entry != nullptr && *entry != nullptr; ++entry) {
    std::size_t size = std::strlen(*entry) + 1;
    std::memcpy(at, *entry, size);
    at += size;
  }
  prctl_mm_map map{};
  map.start_code = stat.field(26);
  map.end_code = stat.field(27);
  map.start_stack = stat.field(28);
  map.start_data = stat.field(45);
  map.end_data = stat.field(46);
  map.start_brk = stat.field(47);
  map.brk = static_cast<unsigned long long>(::syscall(SYS_brk, 0));
  map.arg_start = reinterpret_cast<unsigned long long>(area);
  map.arg_end = reinterpret_cast<unsigned long long>(area + args_size);
  map.env_start = map.arg_end;
  map.env_end = reinterpret_cast<unsigned long long>(area + args_size + env_size);
  map.auxv = nullptr; // the auxiliary vector stays as it is
  map.auxv_size = 0;
  map.exe_fd = static_cast<unsigned>(-1); // so does /proc/self/exe (that one needs privileges)
  if (::prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) != 0) {
    int saved = errno;
    delete[] area;
    errno = saved;
    return failed("prctl PR_SET_MM_MAP");
  }
  const std::string& first = argv.front();
  std::string name = first.substr(first.rfind('/') + 1).substr(0, 15);
  if (::prctl(PR_SET_NAME, name.c_str(), 0, 0, 0) != 0) {
    return failed("prctl PR_SET_NAME");
  }
  return {};
}

} // namespace chaperone
