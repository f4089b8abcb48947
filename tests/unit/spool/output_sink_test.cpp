// tests/unit/spool/output_sink_test.cpp: delivering spool bytes to fds and callbacks exactly.
#include "spool/output_sink.hpp"
#include "tests/support/pattern.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

using namespace chaperone;
using chaperone::test::TempSpool;

namespace {

int open_read(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

} // namespace

TEST_CASE("FdSink copies a byte range to a regular file, with and without O_APPEND",
          "[unit][output_sink]") {
  int append = GENERATE(0, O_APPEND);
  TempSpool spool;
  std::string data = test::pattern_bytes(3, 0, 3 * 1024 * 1024 + 5);
  test::write_whole_file(spool.scratch() / "source", data);
  int source = open_read(spool.scratch() / "source");
  int out =
      ::open((spool.scratch() / "out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | append, 0600);
  REQUIRE(out >= 0);
  {
    spool::FdSink sink(out, -1);
    sink.copy(spool::Stream::out, source, 17, data.size() - 17);
    sink.copy(spool::Stream::err, source, 0, 100); // discarded: fd -1
  }
  ::close(out);
  ::close(source);
  CHECK(test::read_whole_file(spool.scratch() / "out") == data.substr(17));
}

TEST_CASE("FdSink copies to a pipe whose reader is slow, and reports EPIPE when it is gone",
          "[unit][output_sink]") {
  TempSpool spool;
  std::string data = test::pattern_bytes(4, 0, 2 * 1024 * 1024);
  test::write_whole_file(spool.scratch() / "source", data);
  int source = open_read(spool.scratch() / "source");
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::string received;
  std::thread reader([&] {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
    }
  });
  {
    spool::FdSink sink(fds[1], -1);
    sink.copy(spool::Stream::out, source, 0, data.size());
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  CHECK(received == data);

  int gone[2];
  REQUIRE(::pipe2(gone, O_CLOEXEC) == 0);
  ::close(gone[0]);
  ::signal(SIGPIPE, SIG_IGN);
  spool::FdSink sink(gone[1], -1);
  try {
    sink.copy(spool::Stream::out, source, 0, data.size());
    FAIL("copy to a pipe without a reader succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EPIPE);
  }
  ::close(gone[1]);
  ::close(source);
}

TEST_CASE("a sink asked for bytes past the end of the file throws instead of delivering fewer",
          "[unit][output_sink]") {
  TempSpool spool;
  test::write_whole_file(spool.scratch() / "short", "0123456789");
  int source = open_read(spool.scratch() / "short");
  int out = ::open((spool.scratch() / "out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  spool::FdSink fd_sink(out, out);
  CHECK_THROWS_WITH(fd_sink.copy(spool::Stream::out, source, 5, 10),
                    Catch::Contains("shorter than recorded"));
  spool::CallbackSink callback_sink([](spool::Stream, std::string_view) {});
  CHECK_THROWS_WITH(callback_sink.copy(spool::Stream::err, source, 0, 11),
                    Catch::Contains("shorter than recorded"));
  ::close(out);
  ::close(source);
}

TEST_CASE("CallbackSink hands over the range in chunks of at most 1 MiB", "[unit][output_sink]") {
  TempSpool spool;
  std::string data = test::pattern_bytes(5, 0, 2 * 1024 * 1024 + 3);
  test::write_whole_file(spool.scratch() / "source", data);
  int source = open_read(spool.scratch() / "source");
  std::string got;
  std::size_t largest = 0;
  spool::CallbackSink sink([&](spool::Stream stream, std::string_view chunk) {
    CHECK(stream == spool::Stream::err);
    largest = std::max(largest, chunk.size());
    got.append(chunk);
  });
  sink.copy(spool::Stream::err, source, 1, data.size() - 1);
  ::close(source);
  CHECK(got == data.substr(1));
  CHECK(largest <= 1024 * 1024);
}

TEST_CASE("copy_available delivers up to the file's current end, at most the limit, and says 0 "
          "there",
          "[unit][output_sink]") {
  // A follower learns where a growing file ends from what copy_available returns: FdSink from
  // sendfile (into a file, or through pread and write for an O_APPEND fd), other sinks from
  // the size. Each call is one step: a limit smaller than what is there leaves the rest.
  const std::string target = GENERATE(as<std::string>(), "file", "append-file", "callback");
  INFO("sink: " << target);
  constexpr std::size_t k_first = std::size_t{100} * 1024; // there at first; then 300 KiB
  TempSpool spool;
  std::string data = test::pattern_bytes(5, 0, 3 * k_first + 7);
  test::write_whole_file(spool.scratch() / "source", data.substr(0, k_first));
  int source = open_read(spool.scratch() / "source");
  int append = target == "append-file" ? O_APPEND : 0;
  int out =
      ::open((spool.scratch() / "out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | append, 0600);
  REQUIRE(out >= 0);
  std::string got;
  spool::FdSink fd_sink(out, -1);
  spool::CallbackSink callback_sink(
      [&](spool::Stream, std::string_view chunk) { got.append(chunk); });
  spool::OutputSink& sink = target == "callback" ? static_cast<spool::OutputSink&>(callback_sink)
                                                 : static_cast<spool::OutputSink&>(fd_sink);
  std::uint64_t offset = 5;
  CHECK(sink.copy_available(spool::Stream::out, source, offset, 1000) == 1000);
  offset += 1000;
  CHECK(sink.copy_available(spool::Stream::out, source, offset, 1 << 20) == k_first - offset);
  offset = k_first;
  CHECK(sink.copy_available(spool::Stream::out, source, offset, 1 << 20) == 0);
  // The file grows: the next calls see the new end.
  {
    int writer = ::open((spool.scratch() / "source").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(writer >= 0);
    std::string rest = data.substr(k_first);
    REQUIRE(::write(writer, rest.data(), rest.size()) == static_cast<ssize_t>(rest.size()));
    ::close(writer);
  }
  for (std::uint64_t n = 0;
       (n = sink.copy_available(spool::Stream::out, source, offset, 1 << 16)) > 0;) {
    CHECK(n <= (1U << 16));
    offset += n;
  }
  CHECK(offset == data.size());
  ::close(source);
  ::close(out);
  if (target != "callback") {
    got = test::read_whole_file(spool.scratch() / "out");
  }
  CHECK(got == data.substr(5));
}
