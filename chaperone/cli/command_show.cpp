// chaperone/cli/command_show.cpp: `chaperone show ID [--json]` - one run in full: what was
// asked, its state, output sizes, locks and slots, and the chain it is in.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/run_summary.hpp"
#include "spool/run_list.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace chaperone {

namespace {

nlohmann::json config_list(const nlohmann::json& spec, const char* key) {
  const nlohmann::json& config = spec.contains("config") ? spec["config"] : nlohmann::json();
  return config.is_object() && config.contains(key) && config[key].is_array()
             ? config[key]
             : nlohmann::json::array();
}

std::string state_of(const spool::SpoolRoot& root, const std::string& id) {
  try {
    return spool::to_string(spool::RunDir(root.path() / id, id).read_state().state);
  } catch (const std::exception&) {
    return "missing";
  }
}

// The runs this one waits for (its --after), and the runs that wait for it.
nlohmann::json
chain_of(const spool::SpoolRoot& root, const std::string& id, const nlohmann::json& spec) {
  nlohmann::json after = nlohmann::json::array();
  for (const nlohmann::json& dep : config_list(spec, "after")) {
    std::string dep_id = dep.value("run_id", std::string());
    after.push_back(
        {{"run_id", dep_id}, {"ok", dep.value("ok", false)}, {"state", state_of(root, dep_id)}});
  }
  nlohmann::json before = nlohmann::json::array();
  for (const std::string& other : spool::list_run_ids(root)) {
    nlohmann::json other_spec;
    try {
      other_spec = spool::RunDir(root.path() / other, other).read_spec();
    } catch (const std::exception&) {
      continue;
    }
    for (const nlohmann::json& dep : config_list(other_spec, "after")) {
      if (dep.value("run_id", std::string()) == id) {
        before.push_back(
            {{"run_id", other}, {"ok", dep.value("ok", false)}, {"state", state_of(root, other)}});
      }
    }
  }
  return {{"after", after}, {"then", before}};
}

std::string describe_deps(const nlohmann::json& deps) {
  std::string text;
  for (const nlohmann::json& dep : deps) {
    text += (text.empty() ? "" : ", ") + dep.value("run_id", std::string()) + " ("
            + dep.value("state", std::string()) + (dep.value("ok", false) ? ", needs exit 0" : "")
            + ")";
  }
  return text.empty() ? "-" : text;
}

} // namespace

void add_show_command(CLI::App& app, CliContext& context) {
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "show", "Show one run: spec, state, output sizes, locks and slots, and its chain");
  cmd->add_option("run", *id, "Run id, name or unique id prefix")->required();
  cmd->add_flag("--json", *json, "One JSON object: {spec, state, chain: {after, then}}");
  cmd->callback([id, json, &context] {
    spool::RunDir run = context.find_run(*id);
    std::optional<spool::SpoolRoot> root = context.open_spool(false);
    spool::RunState state = run.read_state_resolving_lost();
    nlohmann::json spec = run.read_spec();
    nlohmann::json chain = chain_of(*root, run.run_id(), spec);
    if (*json) {
      nlohmann::json out = {{"spec", spec}, {"state", state.to_json()}, {"chain", chain}};
      (void)std::printf("%s\n",
                        out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      context.exit_code = 0;
      return;
    }
    auto field = [](const char* name, const std::string& value) {
      (void)std::printf("%-12s %s\n", name, value.c_str());
    };
    const nlohmann::json& program = spec.value("program", nlohmann::json::object());
    field("run", run.run_id());
    field("command", command_line_for_display(program.value("argv", nlohmann::json::array())));
    field("cwd", program.value("cwd", std::string("-")));
    field("target", spec.value("target", nlohmann::json::object()).dump());
    field("state", spool::to_string(state.state));
    if (spool::is_final(state.state)) {
      field("exit", std::to_string(state.cli_exit_code()));
    }
    if (state.error) {
      field("error", *state.error);
    }
    if (state.extra.contains("waiting_for")) {
      field("waiting for", state.extra["waiting_for"].dump());
    }
    field("started", state.start_time.empty() ? "-" : state.start_time);
    field("ended", state.end_time.empty() ? "-" : state.end_time);
    field("duration", duration_for_display(state));
    field("output",
          "stdout " + std::to_string(state.stdout_bytes) + " bytes, stderr "
              + std::to_string(state.stderr_bytes) + " bytes");
    nlohmann::json locks = config_list(spec, "locks");
    nlohmann::json slots = config_list(spec, "slots");
    field("locks", locks.empty() ? "-" : locks.dump());
    field("slots", slots.empty() ? "-" : slots.dump());
    if (state.extra.contains("on_exit")) {
      field("on-exit", state.extra["on_exit"].dump());
    }
    field("after", describe_deps(chain["after"]));
    field("then", describe_deps(chain["then"]));
    context.exit_code = 0;
  });
}

} // namespace chaperone
