// chaperone/supervisor/supervisor_args.cpp: the supervisor's command line, written by the
// front end (client/launch.cpp) and read back by supervisor_main.cpp.
#include "chaperone/supervisor/supervisor.hpp"

#include <cstddef>
#include <stdexcept>

namespace chaperone {

SupervisorOptions parse_supervisor_args(const std::vector<std::string>& args) {
  SupervisorOptions options;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> const std::string& {
    if (i + 1 >= args.size()) {
      throw std::invalid_argument(flag + " needs a value");
    }
    return args[++i];
  };
  auto number = [&](const std::string& flag) {
    const std::string& text = value(flag);
    try {
      size_t used = 0;
      long long n = std::stoll(text, &used);
      if (used != text.size() || n < 0) {
        throw std::invalid_argument("");
      }
      return n;
    } catch (const std::exception&) {
      throw std::invalid_argument(flag + " needs a non-negative number, not \"" + text + "\"");
    }
  };
  if (args.empty()) {
    throw std::invalid_argument("missing run directory");
  }
  options.run_dir = args[0];
  for (i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      options.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (arg == "--lock-fd") {
      options.lock_fd = static_cast<int>(number(arg));
    } else if (arg == "--cwd") {
      options.cwd = value(arg);
    } else if (arg == "--stdin") {
      options.stdin_path = value(arg);
    } else if (arg == "--nonce") {
      options.nonce = value(arg);
    } else if (arg == "--timeout-ms") {
      options.timeout = std::chrono::milliseconds(number(arg));
    } else if (arg == "--kill-after-ms") {
      options.kill_after = std::chrono::milliseconds(number(arg));
    } else if (arg == "--keep-children") {
      options.keep_children = true;
    } else if (arg == "--max-output") {
      options.max_output = static_cast<std::uint64_t>(number(arg));
    } else if (arg == "--stop-on-max-output") {
      options.stop_on_max_output = true;
    } else if (arg == "--mirror") {
      options.mirror = true;
    } else if (arg == "--ship") {
      options.ship_path = value(arg);
    } else {
      throw std::invalid_argument("unknown supervisor argument \"" + arg + "\"");
    }
  }
  if (options.argv.empty() && !options.mirror) {
    throw std::invalid_argument("missing program after --");
  }
  if (options.lock_fd < 0) {
    throw std::invalid_argument("missing --lock-fd");
  }
  return options;
}

std::vector<std::string> supervisor_args(const SupervisorOptions& options) {
  std::vector<std::string> args{
      options.run_dir.string(), "--lock-fd", std::to_string(options.lock_fd)};
  if (!options.cwd.empty()) {
    args.insert(args.end(), {"--cwd", options.cwd});
  }
  args.insert(args.end(), {"--stdin", options.stdin_path});
  if (!options.nonce.empty()) {
    args.insert(args.end(), {"--nonce", options.nonce});
  }
  if (options.timeout) {
    args.insert(args.end(), {"--timeout-ms", std::to_string(options.timeout->count())});
  }
  args.insert(args.end(), {"--kill-after-ms", std::to_string(options.kill_after.count())});
  if (options.keep_children) {
    args.emplace_back("--keep-children");
  }
  if (options.max_output > 0) {
    args.insert(args.end(), {"--max-output", std::to_string(options.max_output)});
    if (options.stop_on_max_output) {
      args.emplace_back("--stop-on-max-output");
    }
  }
  if (options.mirror) {
    args.insert(args.end(), {"--mirror", "--ship", options.ship_path});
  }
  args.emplace_back("--");
  args.insert(args.end(), options.argv.begin(), options.argv.end());
  return args;
}

} // namespace chaperone
