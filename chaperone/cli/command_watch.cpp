// chaperone/cli/command_watch.cpp: `chaperone watch [--json] [--output] [--replay N]` - the
// whole spool as it changes: one line (or JSON event) per state a run enters.
#include "chaperone/cli/cli_context.hpp"
#include "chaperone/cli/run_filter.hpp"
#include "chaperone/cli/watch_events.hpp"
#include "spool/host.hpp"
#include "spool/run_list.hpp"
#include "spool/spool_watch.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>

namespace chaperone {

namespace {

struct WatchArgs {
  bool json = false;
  bool output = false;
  int replay = 0;
};

void emit(const std::string& line) {
  (void)std::fwrite(line.data(), 1, line.size(), stdout);
  (void)std::fputc('\n', stdout);
}

// Bytes [from, to) of a file (fewer if it is shorter).
std::string read_range(const std::filesystem::path& path, std::uint64_t from, std::uint64_t to) {
  std::string data;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return data;
  }
  char buffer[64 * 1024];
  while (from < to) {
    size_t want = static_cast<size_t>(std::min<std::uint64_t>(sizeof buffer, to - from));
    ssize_t n = ::pread(fd, buffer, want, static_cast<off_t>(from));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    data.append(buffer, static_cast<size_t>(n));
    from += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return data;
}

std::uint64_t current_size(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

class SpoolFollower {
public:
  SpoolFollower(const spool::SpoolRoot& root, const WatchArgs& args)
      : m_root(root), m_args(args), m_watch(root, true, args.output) {}

  void run() {
    // The root is watched before it is listed: a run published in between shows in both,
    // and m_reported keeps it to one line per state.
    std::vector<nlohmann::json> rows = collect_rows(m_root); // newest first
    size_t replay = std::min(rows.size(), static_cast<size_t>(std::max(m_args.replay, 0)));
    for (size_t i = replay; i-- > 0;) {
      look_at(rows[i].value("run_id", std::string()), true, true);
    }
    for (size_t i = replay; i < rows.size(); ++i) {
      look_at(rows[i].value("run_id", std::string()), false, true);
    }
    (void)std::fflush(stdout);
    for (;;) {
      spool::SpoolChanges changes = m_watch.next(std::nullopt);
      if (changes.appeared.count(std::string()) != 0) { // events were dropped: look again
        for (const std::string& id : spool::list_run_ids(m_root)) {
          changes.appeared.insert(id);
        }
      }
      for (const std::string& id : changes.appeared) {
        if (!id.empty()) {
          look_at(id, true, false);
        }
      }
      for (const std::string& id : changes.runs) {
        look_at(id, true, false);
      }
      for (const std::string& id : changes.gone) {
        m_watch.remove_run(id);
        m_live.erase(id);
      }
      (void)std::fflush(stdout);
      if (std::ferror(stdout) != 0) {
        return; // our reader went away
      }
    }
  }

private:
  struct Live {
    std::uint64_t offsets[2] = {0, 0};
    std::string partial[2]; // text mode: a line not ended yet
  };

  // Reads the run's state and reports it if it differs from what was reported before.
  // `report` false: only remember it (runs that existed before we started, not replayed).
  void look_at(const std::string& id, bool report, bool existed) {
    if (id.empty() || id[0] == '.' || m_finished.count(id) != 0) {
      return;
    }
    spool::RunDir run(m_root.path() / id, id);
    bool fresh = m_reported.count(id) == 0;
    if (fresh && !m_watch.add_run(id)) {
      return; // gone, or not a run dir
    }
    spool::RunState state;
    try {
      state = run.read_state_resolving_lost();
    } catch (const std::exception&) {
      return; // damaged: `ls` shows it; nothing to follow
    }
    if (fresh && m_args.output && !spool::is_final(state.state)) {
      Live& live = m_live[id];
      if (existed) { // its past output is not news
        live.offsets[0] = current_size(run.stream_path(spool::Stream::out));
        live.offsets[1] = current_size(run.stream_path(spool::Stream::err));
      }
    }
    bool final = spool::is_final(state.state);
    bool relay = m_args.output && m_live.count(id) != 0;
    if (relay && final) {
      relay_output(run, state, final); // all of it, then the end
    }
    std::string name = spool::to_string(state.state);
    std::string& reported = m_reported[id];
    if (reported != name) {
      reported = name;
      if (report) {
        report_state(id, state, final);
      }
    }
    if (relay && !final) {
      relay_output(run, state, final);
    }
    if (final) {
      m_finished.insert(id);
      m_watch.remove_run(id);
      m_live.erase(id);
    }
  }

  void report_state(const std::string& id, const spool::RunState& state, bool final) {
    std::string name = spool::to_string(state.state);
    if (m_args.json) {
      emit(state_event_line(id, state.to_json(), final));
      return;
    }
    std::string line = spool::format_utc(std::chrono::system_clock::now()) + " " + id + " " + name;
    if (final) {
      line += " " + std::to_string(state.cli_exit_code());
    }
    if (state.error && (final || state.state == spool::RunStatus::waiting)) {
      line += " (" + *state.error + ")";
    } else if (state.state == spool::RunStatus::waiting && state.extra.contains("waiting_for")) {
      line += " " + state.extra["waiting_for"].dump();
    }
    emit(line);
  }

  void relay_output(const spool::RunDir& run, const spool::RunState& state, bool final) {
    Live& live = m_live[run.run_id()];
    for (int i = 0; i < 2; ++i) {
      spool::Stream stream = i == 0 ? spool::Stream::out : spool::Stream::err;
      std::uint64_t end = final ? (i == 0 ? state.stdout_bytes : state.stderr_bytes)
                                : current_size(run.stream_path(stream));
      if (end <= live.offsets[i]) {
        continue;
      }
      std::string data = read_range(run.stream_path(stream), live.offsets[i], end);
      if (m_args.json) {
        emit(output_event_line(run.run_id(), i == 0 ? "stdout" : "stderr", live.offsets[i], data));
      } else {
        std::string text = live.partial[i] + data;
        std::string prefix = "[" + run.run_id() + (i == 0 ? "] " : ":err] ");
        size_t start = 0;
        for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
          emit(prefix + text.substr(start, nl - start));
          start = nl + 1;
        }
        live.partial[i] = text.substr(start);
        if (final && !live.partial[i].empty()) {
          emit(prefix + live.partial[i]);
          live.partial[i].clear();
        }
      }
      live.offsets[i] += data.size();
    }
  }

  const spool::SpoolRoot& m_root;
  WatchArgs m_args;
  spool::SpoolWatch m_watch;
  std::map<std::string, std::string> m_reported; // run -> the last state reported
  std::set<std::string> m_finished;              // reported final: never again
  std::map<std::string, Live> m_live;
};

} // namespace

void add_watch_command(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<WatchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "watch",
      "Follow the whole spool: one line per state a run enters (starting, waiting, running, "
      "then its final state and exit code), each once; runs a caller is still creating are "
      "never shown. Runs until interrupted");
  cmd->add_flag("--json",
                args->json,
                "JSON lines in the event vocabulary (state, final, output), each with run_id");
  cmd->add_flag("--output",
                args->output,
                "Interleave the output of live runs, each line prefixed by [ID] (stderr: "
                "[ID:err])");
  cmd->add_option("--replay", args->replay, "First show the current state of the N newest runs")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, &context] {
    // One write per line: a reader killed or killing us never gets half an event.
    (void)std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::optional<spool::SpoolRoot> root = context.open_spool(true);
    SpoolFollower follower(*root, *args);
    follower.run();
    context.exit_code = 0;
  });
}

} // namespace chaperone
