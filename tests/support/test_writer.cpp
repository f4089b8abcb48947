// tests/support/test_writer.cpp: the program integration tests run under chaperone. It
// writes known bytes so a test can check every byte of a run's output:
//   pattern SEED BYTES            BYTES of stream SEED to stdout, in 64 KiB writes
//   both SEED_OUT N_OUT SEED_ERR N_ERR   two streams, interleaved in 4 KiB writes
//   allbytes                      bytes 0..255 four times to stdout, 255..0 to stderr
//   lines N [PREFIX]              "PREFIX N\n" for 1..N on stdout (PREFIX "line")
//   gated SEED GATE CODE          stream SEED to stdout, 4 KiB per ms (paced, so a test
//                                 can act mid-run), until file GATE exists; exit CODE
#include "tests/support/pattern.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

void write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      std::fprintf(stderr, "test_writer: write fd %d: %s\n", fd, std::strerror(errno));
      std::exit(99);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

void write_pattern(
    int fd, std::uint64_t seed, std::uint64_t offset, std::uint64_t n, std::size_t chunk) {
  std::vector<char> buffer(chunk);
  while (n > 0) {
    std::size_t take = n < chunk ? static_cast<std::size_t>(n) : chunk;
    chaperone::test::fill_pattern(seed, offset, buffer.data(), take);
    write_all(fd, buffer.data(), take);
    offset += take;
    n -= take;
  }
}

std::uint64_t number(const char* text) {
  return std::strtoull(text, nullptr, 10);
}

int usage() {
  std::fprintf(stderr, "test_writer: bad arguments\n");
  return 98;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  std::string mode = argv[1];
  if (mode == "pattern" && argc == 4) {
    write_pattern(1, number(argv[2]), 0, number(argv[3]), 64 * 1024);
    return 0;
  }
  if (mode == "both" && argc == 6) {
    std::uint64_t seeds[2] = {number(argv[2]), number(argv[4])};
    std::uint64_t left[2] = {number(argv[3]), number(argv[5])};
    std::uint64_t offsets[2] = {0, 0};
    constexpr std::uint64_t k_chunk = 4096;
    while (left[0] > 0 || left[1] > 0) {
      for (int s = 0; s < 2; ++s) {
        std::uint64_t take = left[s] < k_chunk ? left[s] : k_chunk;
        write_pattern(1 + s, seeds[s], offsets[s], take, k_chunk);
        offsets[s] += take;
        left[s] -= take;
      }
    }
    return 0;
  }
  if (mode == "allbytes" && argc == 2) {
    char up[256];
    char down[256];
    for (int i = 0; i < 256; ++i) {
      up[i] = static_cast<char>(i);
      down[i] = static_cast<char>(255 - i);
    }
    for (int r = 0; r < 4; ++r) {
      write_all(1, up, sizeof up);
    }
    write_all(2, down, sizeof down);
    return 0;
  }
  if (mode == "lines" && (argc == 3 || argc == 4)) {
    std::string prefix = argc == 4 ? argv[3] : "line";
    std::string text;
    for (std::uint64_t i = 1; i <= number(argv[2]); ++i) {
      text += prefix + " " + std::to_string(i) + "\n";
    }
    write_all(1, text.data(), text.size());
    return 0;
  }
  if (mode == "gated" && argc == 5) {
    std::uint64_t seed = number(argv[2]);
    const char* gate = argv[3];
    std::uint64_t offset = 0;
    struct stat st {};
    while (::stat(gate, &st) != 0) {
      write_pattern(1, seed, offset, 4096, 4096);
      offset += 4096;
      timespec pace{0, 1'000'000};
      ::nanosleep(&pace, nullptr); // pacing the output, not synchronising
    }
    return static_cast<int>(number(argv[4]));
  }
  return usage();
}
