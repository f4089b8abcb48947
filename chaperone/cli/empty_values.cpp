// chaperone/cli/empty_values.cpp: the empty-value validator, put on every option at once.
#include "chaperone/cli/empty_values.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace chaperone {

void refuse_empty_values(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    // Flags take no value; positionals (run ids, the program's words) have their own rules.
    if (option->get_type_size() == 0 || !option->nonpositional()) {
      continue;
    }
    // transform() puts the check first, ahead of IsMember and the --name rule, so that the
    // message is the same for every option.
    option->transform(CLI::Validator(
        [](std::string& value) {
          return value.empty() ? std::string("empty value") : std::string();
        },
        "",
        "NON-EMPTY"));
  }
  for (CLI::App* sub : app.get_subcommands({})) {
    refuse_empty_values(*sub);
  }
}

} // namespace chaperone
