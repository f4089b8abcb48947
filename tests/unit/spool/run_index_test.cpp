// tests/unit/spool/run_index_test.cpp: the .index.jsonl line format (version 2 written and
// read, version 1 still read, damaged and truncated files), and the lines a final state adds.
#include "spool/run_index.hpp"
#include "tests/unit/spool/spool_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

namespace chaperone::test {

namespace {

nlohmann::json sample_summary(const std::string& id) {
  return {{"run_id", id},
          {"state", "exited"},
          {"exit_code", 3},
          {"return_code", 3},
          {"signal", nullptr},
          {"start_time", "2026-12-01T22:00:00.123456Z"},
          {"end_time", "2026-12-01T22:00:01.623456Z"},
          {"error", nullptr},
          // Quotes, a backslash, a tab, a newline and UTF-8: every escape the reader decodes.
          {"command", "sh -c 'echo \"a\\\\b\"\t\n\xc3\xa9'"},
          {"target", {{"mode", "ssh"}, {"host", "h"}}},
          {"cwd", "/tmp"},
          {"output", {{"stdout", 12}, {"stderr", 0}}},
          {"duration_s", 1.5},
          {"waiting_for", nullptr}};
}

spool::IndexKeys sample_keys() {
  spool::IndexKeys keys;
  keys.dir_inode = 123456789;
  keys.state_size = 1234;
  keys.state_mtime_ns = 1'764'626'400'123'456'789;
  keys.spec_size = 456;
  keys.spec_mtime_ns = 1'764'626'399'000'000'001;
  return keys;
}

} // namespace

TEST_CASE("index lines round-trip every summary field and key", "[unit][spool][index]") {
  nlohmann::json summary = sample_summary("r1");
  std::string line = spool::index_line(summary, sample_keys());
  REQUIRE(line.back() == '\n');
  CHECK(line.rfind("[2,\"", 0) == 0);
  // Still a JSON line, for jq.
  CHECK(nlohmann::json::parse(line).is_array());
  spool::IndexFile index = spool::IndexFile::parse(line);
  REQUIRE(index.size() == 1);
  const spool::IndexedRun* run = index.find("r1");
  REQUIRE(run != nullptr);
  CHECK(run->keys.dir_inode == sample_keys().dir_inode);
  CHECK(run->keys.state_size == 1234);
  CHECK(run->keys.state_mtime_ns == sample_keys().state_mtime_ns);
  CHECK(run->keys.spec_size == std::optional<std::uint64_t>(456));
  CHECK(run->keys.spec_mtime_ns == sample_keys().spec_mtime_ns);
  CHECK(run->state == "exited");
  CHECK(run->exit_code == std::optional<int>(3));
  CHECK(run->start_time == "2026-12-01T22:00:00.123456Z");
  CHECK(run->end_time == "2026-12-01T22:00:01.623456Z");
  CHECK(run->duration_s == std::optional<double>(1.5));
  CHECK(run->command == summary["command"].get<std::string>());
  std::optional<nlohmann::json> whole = run->to_summary();
  REQUIRE(whole);
  CHECK(*whole == summary);
}

TEST_CASE("index lines with nulls and odd doubles round-trip", "[unit][spool][index]") {
  nlohmann::json summary = sample_summary("r2");
  summary["exit_code"] = nullptr;
  summary["start_time"] = nullptr;
  summary["end_time"] = nullptr;
  summary["duration_s"] = 0.1 + 0.2; // not exact in binary: must come back bit for bit
  summary["command"] = "";
  spool::IndexKeys keys = sample_keys();
  keys.spec_size.reset();
  spool::IndexFile index = spool::IndexFile::parse(spool::index_line(summary, keys));
  const spool::IndexedRun* run = index.find("r2");
  REQUIRE(run != nullptr);
  CHECK_FALSE(run->exit_code);
  CHECK(run->start_time.empty());
  CHECK_FALSE(run->keys.spec_size);
  CHECK(run->duration_s == std::optional<double>(0.1 + 0.2));
  CHECK(run->to_summary() == std::optional<nlohmann::json>(summary));
  summary["duration_s"] = nullptr;
  index = spool::IndexFile::parse(spool::index_line(summary, keys));
  REQUIRE(index.find("r2") != nullptr);
  CHECK_FALSE(index.find("r2")->duration_s);
}

TEST_CASE("a damaged, truncated or foreign index line is skipped, never misread",
          "[unit][spool][index]") {
  std::string good = spool::index_line(sample_summary("good"), sample_keys());
  std::string other = spool::index_line(sample_summary("other"), sample_keys());
  SECTION("every single-byte change of a line is caught by its check or its shape") {
    int skipped = 0;
    for (size_t i = 0; i + 1 < other.size(); ++i) {
      std::string bent = other;
      bent[i] = static_cast<char>(bent[i] ^ 0x01);
      spool::IndexFile index = spool::IndexFile::parse(good + bent);
      CHECK(index.find("good") != nullptr);
      const spool::IndexedRun* run = index.find("other");
      if (run == nullptr) {
        ++skipped;
        continue;
      }
      // Only a changed id can survive (the id is covered by the check too, so none should).
      FAIL("a damaged line was read: byte " << i);
    }
    CHECK(skipped == static_cast<int>(other.size() - 1));
  }
  SECTION("a torn last line (no newline) is ignored, the lines before it are read") {
    for (size_t cut = 0; cut < other.size(); ++cut) {
      spool::IndexFile index = spool::IndexFile::parse(good + other.substr(0, cut));
      CHECK(index.find("good") != nullptr);
      CHECK(index.find("other") == nullptr);
    }
  }
  SECTION("a torn line followed by a later append is skipped, the append is read") {
    spool::IndexFile index = spool::IndexFile::parse(other.substr(0, 40) + good);
    CHECK(index.size() == 0); // the torn head spoils the line it joins: both fall back
    index = spool::IndexFile::parse(other.substr(0, 40) + "\n" + good);
    CHECK(index.find("good") != nullptr);
  }
  SECTION("garbage, NULs, other versions and wrong shapes") {
    for (const std::string& bad :
         {std::string("\0\0\0\0\n", 5),
          std::string("[[[[\n"),
          std::string("[3,\"x\"]\n"),
          std::string("[2,\"0000000000000000\",1,2,3,4,5,\"x\",\"exited\",0,null,null,null,"
                      "\"c\",{}]\n"),
          std::string(100000, '[') + "\n",
          std::string("{\"run_id\":\"g\",\"ino\":1}\n")}) {
      spool::IndexFile index = spool::IndexFile::parse(bad + good);
      CHECK(index.size() == 1);
      CHECK(index.find("good") != nullptr);
    }
  }
  SECTION("a later line for the same id wins") {
    nlohmann::json later = sample_summary("good");
    later["state"] = "failed";
    spool::IndexFile index =
        spool::IndexFile::parse(good + spool::index_line(later, sample_keys()));
    REQUIRE(index.find("good") != nullptr);
    CHECK(index.find("good")->state == "failed");
    CHECK(index.lines() == 2);
  }
}

TEST_CASE("an index of lines shorter than its table was sized for grows it and finds every run",
          "[unit][spool][index]") {
  // The table is sized from the file (256 bytes a line) without counting the lines first; these
  // lines have some 130 bytes, so it must grow on the way, and a later line still wins.
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    nlohmann::json summary = {
        {"run_id", "r" + std::to_string(i)}, {"state", "exited"}, {"command", "true"}};
    text += spool::index_line(summary, sample_keys());
  }
  REQUIRE(text.size() / 3000 < 200);
  nlohmann::json later = {{"run_id", "r17"}, {"state", "failed"}, {"command", "true"}};
  text += spool::index_line(later, sample_keys());
  spool::IndexFile index = spool::IndexFile::parse(text);
  CHECK(index.lines() == 3001);
  CHECK(index.size() == 3000);
  for (int i = 0; i < 3000; ++i) {
    const spool::IndexedRun* run = index.find("r" + std::to_string(i));
    REQUIRE(run != nullptr);
    CHECK(run->run_id == "r" + std::to_string(i));
  }
  CHECK(index.find("r17")->state == "failed");
  CHECK(index.find("r3000") == nullptr);
  CHECK(index.find("r") == nullptr);
}

TEST_CASE("version 1 index lines (JSON objects) are still read", "[unit][spool][index]") {
  nlohmann::json v1 = sample_summary("old");
  v1["ino"] = 77;
  v1["state_size"] = 10;
  v1["state_mtime_ns"] = 20;
  v1["spec_size"] = 30;
  v1["spec_mtime_ns"] = 40;
  nlohmann::json early = sample_summary("early"); // before spec keys were recorded
  early["ino"] = 78;
  early["state_size"] = 11;
  early["state_mtime_ns"] = 21;
  nlohmann::json too_old = sample_summary("too-old"); // before "output" was summarized
  too_old.erase("output");
  too_old["ino"] = 79;
  spool::IndexFile index =
      spool::IndexFile::parse(v1.dump() + "\n" + early.dump() + "\n" + too_old.dump() + "\n");
  const spool::IndexedRun* run = index.find("old");
  REQUIRE(run != nullptr);
  CHECK(run->keys.dir_inode == 77);
  CHECK(run->keys.state_size == 10);
  CHECK(run->keys.state_mtime_ns == 20);
  CHECK(run->keys.spec_size == std::optional<std::uint64_t>(30));
  CHECK(run->keys.spec_mtime_ns == 40);
  CHECK(run->state == "exited");
  CHECK(run->exit_code == std::optional<int>(3));
  CHECK(run->to_summary() == std::optional<nlohmann::json>(sample_summary("old")));
  REQUIRE(index.find("early") != nullptr);
  CHECK_FALSE(index.find("early")->keys.spec_size);
  CHECK(index.find("too-old") == nullptr);
}

TEST_CASE("a final state appends one current version 2 line", "[unit][spool][index]") {
  TempSpool spool;
  FixtureRun run = make_run(spool, "indexed");
  finish_run(run.dir);
  spool::SpoolRoot root = spool::SpoolRoot::open(spool.root(), false);
  spool::IndexFile index = spool::IndexFile::read(root);
  CHECK(index.lines() == 1);
  const spool::IndexedRun* line = index.find("indexed");
  REQUIRE(line != nullptr);
  CHECK(line->state == "exited");
  struct stat st {};
  REQUIRE(::stat(run.dir.path().c_str(), &st) == 0);
  CHECK(line->keys.dir_inode == st.st_ino);
  REQUIRE(::stat(run.dir.file(spool::k_state_file).c_str(), &st) == 0);
  CHECK(line->keys.state_size == static_cast<std::uint64_t>(st.st_size));
  CHECK(line->keys.state_mtime_ns == st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec);
  REQUIRE(::stat(run.dir.file(spool::k_spec_file).c_str(), &st) == 0);
  CHECK(line->keys.spec_size == std::optional<std::uint64_t>(st.st_size));
  CHECK(line->to_summary()
        == std::optional<nlohmann::json>(spool::summarize(run.dir.read_state())));
}

} // namespace chaperone::test
