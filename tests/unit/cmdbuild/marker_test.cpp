// tests/unit/cmdbuild/marker_test.cpp: the marker filter strips exactly our lines, whatever
// the chunking of the stream.
#include "cmdbuild/marker.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace chaperone::cmdbuild;

namespace {

const std::string k_nonce = "N0nce42xyz";

std::string mark(const std::string& event) {
  return marker_line(k_nonce, event);
}

// Feeds `stream` in the given chunk sizes (cycled) and returns the passed-through bytes.
std::string run_chunks(MarkerFilter& filter, const std::string& stream, std::size_t cut) {
  std::string out = filter.feed(std::string_view(stream).substr(0, cut));
  out += filter.feed(std::string_view(stream).substr(cut));
  out += filter.finish();
  return out;
}

} // namespace

TEST_CASE("marker lines start and end with a newline and carry tag and nonce", "[cmdbuild]") {
  CHECK(mark("exit 3") == "\nchaperone-marker N0nce42xyz exit 3\n");
  CHECK_THROWS_AS(marker_line(k_nonce, "a\nb"), std::invalid_argument);
  CHECK_THROWS_AS(marker_line("short", "exit 0"), std::invalid_argument);
  CHECK_THROWS_AS(MarkerFilter("has space 123"), std::invalid_argument);
}

TEST_CASE("the filter strips markers and keeps program bytes at every chunk boundary",
          "[cmdbuild]") {
  // The program's stderr: a complete line, an unterminated line interrupted by a marker, a
  // marker inside a line, a look-alike with another nonce, an empty line, invalid UTF-8 and
  // an unterminated last line.
  std::vector<std::pair<std::string, bool>> pieces{
      {mark("pid 100 100"), true},
      {"first line\n", false},
      {"partial", false},
      {mark("exec nothing really"), true},
      {" continued\n\n", false},
      {"\nchaperone-marker OtherNonce1 exit 9\n", false},
      {"\nchaperone-marker N0nce42x", false}, // a prefix that then diverges
      {"\n\xff\xfe\n", false},
      {"\n", false},
      {mark("exit 42"), true},
      {"tail without newline", false},
  };
  std::string stream;
  std::string expected;
  for (const auto& [bytes, is_marker] : pieces) {
    stream += bytes;
    if (!is_marker) {
      expected += bytes;
    }
  }
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    MarkerFilter filter(k_nonce);
    INFO("cut at " << cut);
    REQUIRE(run_chunks(filter, stream, cut) == expected);
    CHECK(filter.pid() == 100);
    CHECK(filter.pgid() == 100);
    CHECK(filter.exit_code() == 42);
    CHECK(filter.exec_error() == "nothing really");
    CHECK(filter.finished());
  }
  MarkerFilter byte_by_byte(k_nonce);
  std::string out;
  for (char c : stream) {
    out += byte_by_byte.feed(std::string_view(&c, 1));
  }
  out += byte_by_byte.finish();
  CHECK(out == expected);
  CHECK(byte_by_byte.exit_code() == 42);
}

TEST_CASE("a marker after an unterminated stderr line leaves that line unterminated",
          "[cmdbuild]") {
  std::string stream = "no newline at the end" + mark("exit 0");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    MarkerFilter filter(k_nonce);
    CHECK(run_chunks(filter, stream, cut) == "no newline at the end");
    CHECK(filter.exit_code() == 0);
  }
}

TEST_CASE("a marker after a complete line keeps exactly that line's newline", "[cmdbuild]") {
  MarkerFilter filter(k_nonce);
  CHECK(filter.feed("line\n" + mark("signal 9 core") + "\n") == "line\n");
  CHECK(filter.finish() == "\n");
  CHECK(filter.signal() == 9);
  CHECK(filter.core_dumped());
  CHECK_FALSE(filter.exit_code().has_value());
}

TEST_CASE("bytes held back as a possible marker are released at EOF", "[cmdbuild]") {
  MarkerFilter filter(k_nonce);
  CHECK(filter.feed("abc\nchaperone-marker N0nce4") == "abc");
  CHECK(filter.finish() == "\nchaperone-marker N0nce4");
  MarkerFilter unterminated(k_nonce);
  CHECK(unterminated.feed("x\nchaperone-marker N0nce42xyz exit") == "x");
  CHECK(unterminated.finish() == "\nchaperone-marker N0nce42xyz exit");
  CHECK_FALSE(unterminated.finished());
}

TEST_CASE("an endless line that starts like a marker is passed through", "[cmdbuild]") {
  MarkerFilter filter(k_nonce);
  std::string head = "\nchaperone-marker N0nce42xyz ";
  std::string body(10000, 'z');
  std::string out = filter.feed(head);
  out += filter.feed(body);
  CHECK(out == head + body);
  CHECK(filter.finish().empty());
}

TEST_CASE("cwd, error and malformed events are parsed or counted", "[cmdbuild]") {
  MarkerFilter filter(k_nonce);
  std::string out =
      filter.feed(mark("cwd No such file or directory") + mark("error fork: x") + mark("exit 300")
                  + mark("pid x 1") + mark("bogus") + mark("signal 0"));
  CHECK(out.empty());
  CHECK(filter.cwd_error() == "No such file or directory");
  CHECK(filter.wrapper_error() == "fork: x");
  CHECK(filter.malformed_count() == 4);
  CHECK_FALSE(filter.finished());
  CHECK_FALSE(filter.pid().has_value());
}

namespace {

// What perl 5.36 writes at start-up when the login's locale is missing (fish's LC_CTYPE).
const std::string k_perl_locale_warning = "perl: warning: Setting locale failed.\n"
                                          "perl: warning: Please check that your locale "
                                          "settings:\n"
                                          "\tLANGUAGE = (unset),\n"
                                          "\tLC_ALL = (unset),\n"
                                          "\tLC_CTYPE = \"en_US.UTF-8\",\n"
                                          "\tLANG = (unset)\n"
                                          "    are supported and installed on your system.\n"
                                          "perl: warning: Falling back to the standard locale "
                                          "(\"C\").\n";

} // namespace

TEST_CASE("in ssh modes perl's locale warning before the first marker is dropped, at every "
          "chunk boundary, and everything else is kept",
          "[cmdbuild]") {
  // Before the first marker: the login's own line, perl's block, an indented login line
  // (kept: the block has ended), an unterminated line cut by the marker. After it: the
  // program's own identical warning, which is its output and kept.
  std::string before = "motd line\n" + k_perl_locale_warning + "  indented login line\nhalf";
  std::string after = "prog\n" + k_perl_locale_warning + "end";
  std::string stream = before + mark("pid 7 7") + after + mark("exit 0");
  std::string expected = "motd line\n  indented login line\nhalf" + after;
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    MarkerFilter filter(k_nonce, BeforeFirstMarker::drop_perl_locale_warnings);
    INFO("cut at " << cut);
    REQUIRE(run_chunks(filter, stream, cut) == expected);
    CHECK(filter.pid() == 7);
    CHECK(filter.exit_code() == 0);
  }
  MarkerFilter byte_by_byte(k_nonce, BeforeFirstMarker::drop_perl_locale_warnings);
  std::string out;
  for (char c : stream) {
    out += byte_by_byte.feed(std::string_view(&c, 1));
  }
  out += byte_by_byte.finish();
  CHECK(out == expected);
  // The default keeps every byte: local and sudo modes, where the program may already write.
  MarkerFilter keep(k_nonce);
  CHECK(run_chunks(keep, stream, 5) == before + after);
}

TEST_CASE("without any marker (ssh failed, no perl) only perl's locale warning is dropped and "
          "the rest comes out at EOF",
          "[cmdbuild]") {
  MarkerFilter filter(k_nonce, BeforeFirstMarker::drop_perl_locale_warnings);
  std::string out = filter.feed(k_perl_locale_warning + "sh: 1: exec: perl: not found\nno nl");
  CHECK(out == "sh: 1: exec: perl: not found\n");
  CHECK(filter.finish() == "no nl");
  CHECK_FALSE(filter.pid().has_value());
  // A long line before any marker is not held back until its newline.
  MarkerFilter endless(k_nonce, BeforeFirstMarker::drop_perl_locale_warnings);
  std::string body(10000, 'y');
  CHECK(endless.feed(body) == body);
  CHECK(endless.finish().empty());
}
