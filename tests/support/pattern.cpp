// tests/support/pattern.cpp: the deterministic byte stream shared by tests and test_writer.
#include "tests/support/pattern.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace chaperone::test {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

} // namespace

void fill_pattern(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t n) {
  std::uint64_t base = splitmix64(seed);
  std::size_t i = 0;
  while (i < n) {
    std::uint64_t word_index = (offset + i) / 8;
    std::size_t in_word = static_cast<std::size_t>((offset + i) % 8);
    std::uint64_t word = splitmix64(base ^ word_index);
    unsigned char bytes[8];
    for (int b = 0; b < 8; ++b) {
      bytes[b] = static_cast<unsigned char>(word >> (8 * b));
    }
    std::size_t take = 8 - in_word < n - i ? 8 - in_word : n - i;
    std::memcpy(out + i, bytes + in_word, take);
    i += take;
  }
}

std::string pattern_bytes(std::uint64_t seed, std::uint64_t offset, std::size_t n) {
  std::string text(n, '\0');
  fill_pattern(seed, offset, text.data(), n);
  return text;
}

void PatternChecker::feed(std::string_view chunk) {
  if (!m_first_mismatch) {
    m_expected.resize(chunk.size());
    fill_pattern(m_seed, m_offset, m_expected.data(), chunk.size());
    if (std::memcmp(m_expected.data(), chunk.data(), chunk.size()) != 0) {
      std::size_t i = 0;
      while (m_expected[i] == chunk[i]) {
        ++i;
      }
      m_first_mismatch = m_offset + i;
    }
  }
  m_offset += chunk.size();
}

PatternChecker check_file_against_pattern(const std::string& path, std::uint64_t seed) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  PatternChecker checker(seed);
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      throw std::runtime_error("read " + path + ": " + std::strerror(saved));
    }
    if (n == 0) {
      break;
    }
    checker.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  return checker;
}

} // namespace chaperone::test
