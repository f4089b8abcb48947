// tests/unit/spool/event_test.cpp: the event vocabulary: UTF-8 rules, base64, encode/decode
// round trips and EventSink's cuts.
#include "spool/event.hpp"
#include "spool/event_sink.hpp"
#include "spool/io.hpp"
#include "tests/support/temp_spool.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

using namespace chaperone::spool;

namespace {

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string bytes(n, '\0');
  for (char& c : bytes) {
    c = static_cast<char>(rng() & 0xFFU);
  }
  return bytes;
}

} // namespace

TEST_CASE("is_valid_utf8 accepts exactly what a strict JSON encoder accepts", "[unit][event]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii\n\t"));
  CHECK(is_valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));     // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));     // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xc3"));             // cut short
  CHECK_FALSE(is_valid_utf8("\x80"));             // lone continuation
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = random_bytes(rng, rng() % 8);
    bool strict_ok = true;
    try {
      (void)nlohmann::json(bytes).dump();
    } catch (const nlohmann::json::exception&) {
      strict_ok = false;
    }
    INFO("bytes: " << nlohmann::json(base64_encode(bytes)));
    CHECK(is_valid_utf8(bytes) == strict_ok);
  }
}

TEST_CASE("incomplete_utf8_tail finds only sequences more bytes could complete", "[unit][event]") {
  CHECK(incomplete_utf8_tail("") == 0);
  CHECK(incomplete_utf8_tail("abc") == 0);
  CHECK(incomplete_utf8_tail("ab\xc3") == 1);
  CHECK(incomplete_utf8_tail("ab\xc3\xa9") == 0);
  CHECK(incomplete_utf8_tail("a\xe2\x82") == 2);
  CHECK(incomplete_utf8_tail("\xf0\x9f\x98") == 3);
  CHECK(incomplete_utf8_tail("\xf0\x9f\x98\x80") == 0);
  CHECK(incomplete_utf8_tail("a\xff") == 0);     // never valid
  CHECK(incomplete_utf8_tail("a\xe0\x80") == 0); // overlong already
  CHECK(incomplete_utf8_tail("\x80\x80\x80") == 0);
}

TEST_CASE("base64 round-trips random bytes and refuses bad input", "[unit][event]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  std::mt19937_64 rng(5);
  for (int i = 0; i < 500; ++i) {
    std::string bytes = random_bytes(rng, rng() % 300);
    CHECK(base64_decode(base64_encode(bytes)) == bytes);
  }
  CHECK_THROWS(base64_decode("Zg="));
  CHECK_THROWS(base64_decode("Z!=="));
  CHECK_THROWS(base64_decode("Zg==Zg=="));
  CHECK_THROWS(base64_decode("=Zg="));
}

TEST_CASE("output events round-trip any bytes through one JSON line", "[unit][event]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    Event event;
    event.kind = EventKind::output;
    event.stream = (i % 2 == 0) ? Stream::out : Stream::err;
    event.offset = rng() >> 8U;
    event.data =
        i % 3 == 0 ? std::string("text \xc3\xa9 \"quoted\"\n") : random_bytes(rng, rng() % 200);
    std::string line = encode_event(event);
    CHECK(line.find('\n') == std::string::npos);
    nlohmann::json json = nlohmann::json::parse(line);
    CHECK(json.contains("data") == is_valid_utf8(event.data));
    CHECK(json.contains("data_b64") != is_valid_utf8(event.data));
    Event back = decode_event(line + "\n");
    CHECK(back.kind == EventKind::output);
    CHECK(back.stream == event.stream);
    CHECK(back.offset == event.offset);
    CHECK(back.data == event.data);
  }
  Event final_event{EventKind::final, Stream::out, 0, {}, {{"state", "exited"}, {"exit_code", 3}}};
  Event back = decode_event(encode_event(final_event));
  CHECK(back.kind == EventKind::final);
  CHECK(back.state == final_event.state);
}

TEST_CASE("decode_event names what is wrong with a line", "[unit][event]") {
  CHECK_THROWS_WITH(decode_event("nope"), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(decode_event(R"({"event":"bogus"})"), Catch::Contains("unknown event"));
  CHECK_THROWS_WITH(decode_event(R"({"event":"output","stream":"x","offset":0,"data":""})"),
                    Catch::Contains("stream"));
  CHECK_THROWS_WITH(decode_event(R"({"event":"output","stream":"stdout","offset":-1,"data":""})"),
                    Catch::Contains("offset"));
  CHECK_THROWS_WITH(
      decode_event(R"({"event":"output","stream":"stdout","offset":0,"data":"","data_b64":""})"),
      Catch::Contains("exactly one"));
  CHECK_THROWS_WITH(decode_event(R"({"event":"final","state":3})"), Catch::Contains("state"));
}

TEST_CASE("EventSink never cuts a character, holds an unfinished one, and keeps offsets exact",
          "[unit][event]") {
  chaperone::test::TempSpool spool;
  std::filesystem::path file = spool.scratch() / "stream";
  // 'a', then a 2-byte, a 3-byte and a 4-byte character, repeated so that chunk edges of
  // 5 bytes fall inside characters.
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text += "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  }
  {
    Fd out = open_or_throw(file, O_WRONLY | O_CREAT | O_TRUNC);
    write_all(out.get(), text, "test file");
  }
  Fd in = open_or_throw(file, O_RDONLY);
  std::vector<Event> events;
  EventSink sink([&](const Event& e) { events.push_back(e); }, 0, 0, 5);
  // Deliver in uneven pieces, the first ending inside the 4-byte character.
  std::uint64_t cuts[] = {8, 9, 23, text.size()};
  std::uint64_t at = 0;
  for (std::uint64_t cut : cuts) {
    sink.copy(Stream::out, in.get(), at, cut - at);
    at = cut;
  }
  sink.flush();
  std::string joined;
  std::uint64_t expected_offset = 0;
  for (const Event& e : events) {
    CHECK(e.offset == expected_offset);
    CHECK(is_valid_utf8(e.data));
    CHECK(e.data.size() <= 5);
    joined += e.data;
    expected_offset += e.data.size();
  }
  CHECK(joined == text);

  // An unfinished character at the very end is held until flush(), then sent as it is.
  events.clear();
  EventSink tail_sink([&](const Event& e) { events.push_back(e); }, 0, 0);
  tail_sink.copy(Stream::err, in.get(), 0, 2); // "a" + the first byte of "é"
  REQUIRE(events.size() == 1);
  CHECK(events[0].stream == Stream::err);
  CHECK(events[0].data == "a");
  tail_sink.flush();
  REQUIRE(events.size() == 2);
  CHECK(events[1].offset == 1);
  CHECK(events[1].data == "\xc3");
  CHECK(nlohmann::json::parse(encode_event(events[1])).at("data_b64") == "ww==");
}
