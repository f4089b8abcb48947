// chaperone/cli/error_report.cpp: failures reported as one line of text or one JSON object,
// and CLI11's parse errors rewritten so that they say what to type instead.
#include "chaperone/cli/error_report.hpp"

#include "chaperone/cli/cli_error.hpp"
#include "spool/printable.hpp"
#include "spool/state.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace chaperone {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The candidate closest to `word`, if it is close enough to be a typo (or `word` is a
// unique-looking prefix of it).
std::optional<std::string> nearest(const std::string& word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    size_t distance = edit_distance(word, candidate);
    if (word.size() >= 3 && candidate.compare(0, word.size(), word) == 0) {
      distance = std::min<size_t>(distance, 1);
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (!sub->get_group().empty()) {
      names.push_back(sub->get_name());
    }
  }
  return names;
}

std::vector<std::string> long_options(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) {
      names.push_back("--" + name);
    }
  }
  return names;
}

// The subcommand named on the command line and its index in argv (CLI11's own record of
// it is not reliable once parsing failed).
std::pair<CLI::App*, int> named_subcommand(CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") {
      break;
    }
    if (word == "--spool") {
      ++i; // its value
      continue;
    }
    if (!word.empty() && word[0] != '-') {
      for (CLI::App* sub : app.get_subcommands({})) {
        if (sub->get_name() == word) {
          return {sub, i};
        }
      }
      return {nullptr, i};
    }
  }
  return {nullptr, 0};
}

bool has_double_dash(int argc, char** argv) {
  return std::any_of(
      argv + 1, argv + argc, [](const char* word) { return std::string(word) == "--"; });
}

// Where the program starts in `chaperone run [options] PROGRAM ARGS...`: the first word after
// the subcommand that is neither an option nor the value of one.
int program_index(const CLI::App& sub, int sub_index, int argc, char** argv) {
  for (int i = sub_index + 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() > 1 && word[0] == '-') {
      std::string name = word.substr(0, word.find('='));
      const CLI::Option* option = sub.get_option_no_throw(name);
      if (option != nullptr && option->get_expected_max() != 0 && name == word) {
        ++i; // its value is the next word
      }
      continue;
    }
    return i;
  }
  return argc;
}

std::string shell_words(int from, int argc, char** argv) {
  std::string words;
  for (int i = from; i < argc; ++i) {
    words += (words.empty() ? "" : " ") + spool::printable(argv[i]);
  }
  return words;
}

} // namespace

std::string error_kind(const std::exception& error) {
  if (const auto* cli_error = dynamic_cast<const CliError*>(&error)) {
    return cli_error->kind();
  }
  if (dynamic_cast<const std::invalid_argument*>(&error) != nullptr
      || dynamic_cast<const CLI::ParseError*>(&error) != nullptr) {
    return "usage";
  }
  if (const auto* system_error = dynamic_cast<const std::system_error*>(&error)) {
    if (system_error->code() == std::errc::file_exists) {
      return "exists";
    }
    return "spool";
  }
  return "failed";
}

void report_error(const std::string& kind, const std::string& message, bool json) {
  if (!json) {
    (void)std::fprintf(stderr, "chaperone: %s\n", message.c_str());
    return;
  }
  nlohmann::json object{
      {"error", message}, {"kind", kind}, {"exit_code", spool::k_exit_chaperone_failed}};
  (void)std::fprintf(stderr,
                     "%s\n",
                     object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

std::string explain_parse_error(
    CLI::App& app, const CLI::ParseError& error, int argc, char** argv, int parsed_argc) {
  auto [sub, sub_index] = named_subcommand(app, parsed_argc, argv);
  if (sub == nullptr && sub_index > 0) {
    std::string word = argv[sub_index];
    std::string message = "unknown command \"" + spool::printable(word) + "\"";
    if (auto guess = nearest(word, command_names(app))) {
      return message + "; did you mean \"" + *guess + "\"? (see chaperone --help)";
    }
    return message + " (see chaperone --help)";
  }
  std::string where = sub != nullptr ? "chaperone " + sub->get_name() : std::string("chaperone");
  std::string help = " (see " + where + " --help)";
  // CLI11 lists the extras in reverse; take them in the order they were typed.
  std::vector<std::string> extras = app.remaining(true);
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr) {
    if (sub == nullptr && dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
      if (extras.empty()) {
        return "no command given" + help;
      }
      // `chaperone --no-such-option`: CLI11 only says that a command is required.
    } else {
      return error.what() + help;
    }
  }
  std::string message =
      std::string("unexpected argument") + (extras.size() > 1 ? "s" : "") + " to " + where + ":";
  for (const std::string& extra : extras) {
    message += " " + spool::printable(extra);
  }
  std::vector<std::string> candidates = long_options(app);
  if (sub != nullptr) {
    std::vector<std::string> own = long_options(*sub);
    candidates.insert(candidates.end(), own.begin(), own.end());
  }
  for (const std::string& extra : extras) {
    if (extra.size() > 2 && extra.compare(0, 2, "--") == 0) {
      if (auto guess = nearest(extra.substr(0, extra.find('=')), candidates)) {
        message += "; did you mean " + *guess + "?";
        break;
      }
    }
  }
  bool takes_program = sub != nullptr && (sub->get_name() == "run" || sub->get_name() == "cmd");
  if (takes_program && !has_double_dash(argc, argv)) {
    int program = program_index(*sub, sub_index, argc, argv);
    if (program < argc) {
      return message + "; if the program's own options were taken for chaperone's, put -- before "
             + "the program: " + where + " [options] -- " + shell_words(program, argc, argv);
    }
  }
  return message + help;
}

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") {
      return false;
    }
    if (word == "--json") {
      return true;
    }
  }
  return false;
}

} // namespace chaperone
