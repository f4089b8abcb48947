// tests/fuzz/fuzz_test.cpp: the fuzz properties as a bounded random test: every committed
// corpus entry, then mutations of them (byte flips, insertions, deletions, splices,
// truncations) from a fixed seed. CHAPERONE_FUZZ_ITERATIONS overrides the count.
#include "tests/fuzz/fuzz_targets.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> load_corpus(const std::string& name) {
  std::vector<std::string> corpus;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(CHAPERONE_FUZZ_CORPUS) + "/" + name)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    corpus.push_back(text.str());
  }
  REQUIRE_FALSE(corpus.empty());
  return corpus;
}

std::string mutate(const std::string& base, const std::string& other, std::mt19937_64& rng) {
  static const char k_interesting[] = "\n\"\\{}[]:,0-9e.'$` \x00\xff\xc3";
  std::string s = base;
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
    case 0:
      if (!s.empty() && pos < s.size()) {
        s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
      }
      break;
    case 1:
      s.insert(pos, 1, k_interesting[rng() % (sizeof k_interesting - 1)]);
      break;
    case 2:
      if (pos < s.size()) {
        s.erase(pos, 1 + rng() % 8);
      }
      break;
    case 3:
      s = s.substr(0, pos);
      break;
    case 4: {
      size_t from = other.empty() ? 0 : rng() % other.size();
      s.insert(pos, other.substr(from, rng() % 32));
      break;
    }
    default:
      s.insert(pos, 1, static_cast<char>(rng() % 256));
    }
  }
  return s;
}

long iterations() {
  const char* text = std::getenv("CHAPERONE_FUZZ_ITERATIONS");
  return text != nullptr ? std::atol(text) : 20000;
}

template <typename Target> void run_target(const std::string& corpus_name, Target target) {
  std::vector<std::string> corpus = load_corpus(corpus_name);
  for (const std::string& input : corpus) {
    target(input);
  }
  std::mt19937_64 rng(0xc4a9e50e);
  long n = iterations();
  for (long i = 0; i < n; ++i) {
    const std::string& base = corpus[rng() % corpus.size()];
    const std::string& other = corpus[rng() % corpus.size()];
    target(mutate(base, other, rng));
  }
  // A count the log shows: the property held for this many inputs.
  WARN(corpus_name << ": " << (n + static_cast<long>(corpus.size())) << " inputs checked");
  SUCCEED();
}

} // namespace

TEST_CASE("any state.json bytes parse into a state or fail with a clear error", "[fuzz]") {
  run_target("state", chaperone::fuzz::state_parser);
}

TEST_CASE("the marker filter passes any program stderr through unchanged", "[fuzz]") {
  run_target("marker", chaperone::fuzz::marker_filter);
}

TEST_CASE("an accepted run name is always one safe path component", "[fuzz]") {
  run_target("names", chaperone::fuzz::run_name);
}
