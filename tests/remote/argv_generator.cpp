// tests/remote/argv_generator.cpp: random hostile argvs, argv_dump parsing and byte-exact
// comparison for the round-trip tests.
#include "tests/remote/harness.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>

namespace chaperone::test {

std::uint64_t test_seed() {
  if (const char* env = std::getenv("CHAPERONE_TEST_SEED")) {
    return std::stoull(env);
  }
  return std::random_device{}();
}

ArgvGenerator::ArgvGenerator(std::uint64_t seed) : m_rng(seed) {}

namespace {

using std::string_literals::operator""s;

// NOLINTBEGIN(modernize-raw-string-literal): escapes read better in a table of bytes
const std::vector<std::string> k_hostile{
    ""s,         "-"s,        "--"s,
    "-n"s,       "-e"s,       "=ls"s,
    "="s,        "a=b"s,      "~"s,
    "~root"s,    "~/x"s,      "*"s,
    "?"s,        "[a]"s,      "{a,b}"s,
    "$HOME"s,    "${HOME}"s,  "$(id)"s,
    "`id`"s,     "'"s,        "\""s,
    "\\"s,       "\\'"s,      "\\\\"s,
    "'\\''"s,    "!"s,        "!!"s,
    "%s"s,       "\n"s,       "\t"s,
    "\r\n"s,     " "s,        "a b"s,
    "\xff\xfe"s, "\xc0\x80"s, "é漢字"s,
    "#"s,        "a#b"s,      ";"s,
    "&"s,        "|"s,        "<"s,
    ">"s,        "^"s,        "(x)"s,
    "\x1b[31m"s, "\x7f"s,     "$'\\n'"s,
    "\\n"s,      "%"s,        "-oProxyCommand=x"s,
    "--help"s,   "\x01"s,     "end\\"s,
    "$"s,
};

// NOLINTEND(modernize-raw-string-literal)

constexpr std::string_view k_meta = " \t\n'\"\\$`*?[]{}()<>|&;!#~=%^-+,:@/.";

} // namespace

std::string ArgvGenerator::value(std::size_t max_length) {
  std::uniform_int_distribution<std::size_t> length_dist(0, max_length);
  std::size_t length = length_dist(m_rng);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int> any_byte(1, 255);
  std::uniform_int_distribution<std::size_t> meta(0, k_meta.size() - 1);
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    int k = kind(m_rng);
    if (k < 5) {
      out.push_back(k_meta[meta(m_rng)]);
    } else if (k < 7) {
      out.push_back(static_cast<char>('a' + any_byte(m_rng) % 26));
    } else {
      out.push_back(static_cast<char>(any_byte(m_rng)));
    }
  }
  return out;
}

std::string ArgvGenerator::next() {
  if (m_fixed_index < k_hostile.size()) {
    return k_hostile[m_fixed_index++];
  }
  std::uniform_int_distribution<int> shape(0, 19);
  int s = shape(m_rng);
  if (s == 0) {
    return k_hostile[std::uniform_int_distribution<std::size_t>(0, k_hostile.size() - 1)(m_rng)];
  }
  if (s == 1) {
    return "-" + value(8);
  }
  if (s == 2) {
    return value(200);
  }
  return value(16);
}

Argv ArgvGenerator::batch(std::size_t bytes, std::size_t count) {
  Argv out;
  std::size_t total = 0;
  while (total < bytes && out.size() < count) {
    out.push_back(next());
    total += out.back().size() + 1;
  }
  return out;
}

std::optional<Dump> parse_dump(const std::string& bytes) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t nul = bytes.find('\0', start);
    if (nul == std::string::npos) {
      return std::nullopt; // every field ends with a NUL
    }
    fields.push_back(bytes.substr(start, nul - start));
    start = nul + 1;
  }
  Dump dump;
  std::size_t i = 0;
  auto take = [&]() -> std::optional<std::string> {
    if (i >= fields.size()) {
      return std::nullopt;
    }
    return fields[i++];
  };
  if (take() != "cwd") {
    return std::nullopt;
  }
  auto cwd = take();
  if (!cwd) {
    return std::nullopt;
  }
  dump.cwd = *cwd;
  while (i < fields.size() && fields[i] == "env") {
    ++i;
    auto name = take();
    auto value = take();
    if (!name || !value || value->empty()) {
      return std::nullopt;
    }
    dump.env.emplace_back(*name,
                          value->front() == '=' ? std::optional(value->substr(1)) : std::nullopt);
  }
  if (take() != "argc") {
    return std::nullopt;
  }
  auto argc = take();
  if (!argc) {
    return std::nullopt;
  }
  std::size_t n = std::stoul(*argc);
  if (fields.size() - i != n) {
    return std::nullopt;
  }
  dump.args.assign(fields.begin() + static_cast<std::ptrdiff_t>(i), fields.end());
  return dump;
}

std::string random_nonce() {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char k_chars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof k_chars - 2);
  std::string nonce;
  for (int i = 0; i < 16; ++i) {
    nonce.push_back(k_chars[pick(rng)]);
  }
  return nonce;
}

void check_same_args(const Argv& expected, const Argv& got) {
  if (expected == got) {
    return;
  }
  std::size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) {
    ++i;
  }
  FAIL_CHECK("argv differs at element "
             << i << " of " << expected.size() << " (got " << got.size() << "): expected "
             << (i < expected.size() ? show(expected[i]) : "<end>") << ", got "
             << (i < got.size() ? show(got[i]) : "<end>"));
}

} // namespace chaperone::test
