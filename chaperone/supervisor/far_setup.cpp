// chaperone/supervisor/far_setup.cpp: probe, ship, launch. Each step is one ssh command
// (cmdbuild/far_chaperone.hpp) run to completion.
#include "chaperone/supervisor/far_setup.hpp"

#include "chaperone/supervisor/far_command.hpp"
#include "chaperone/supervisor/version.hpp"
#include "cmdbuild/far_chaperone.hpp"
#include "spool/atomic_file.hpp"
#include "spool/io.hpp"

#include <spdlog/logger.h>

#include <sys/stat.h>
#include <sys/utsname.h>

#include <stdexcept>

namespace chaperone {

namespace {

constexpr std::chrono::seconds k_step_timeout{60};
constexpr std::chrono::seconds k_ship_timeout{300};

FarSetup failure(int code, std::string error) {
  FarSetup setup;
  setup.exit_code = code;
  setup.error = std::move(error);
  return setup;
}

// ssh's own failure (255) is told apart from the far command's by the exit code alone:
// these far commands never exit 255 themselves.
FarSetup ssh_failure(const cmdbuild::Target& target, const char* step, const CommandOutcome& o) {
  std::string why = o.timed_out ? "timed out" : o.last_err_line();
  return failure(o.exit_code == 255 || o.timed_out ? 255 : 125,
                 std::string("far side ") + step + " on " + target.host + " failed (exit "
                     + std::to_string(o.exit_code) + ")" + (why.empty() ? "" : ": " + why));
}

bool is_sha256(const std::string& text) {
  bool hex = text.size() == 64;
  for (char c : text) {
    hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  return hex;
}

// Hashing both binaries (~90 MB) costs a few hundred ms of CPU, which 1,000 launches would
// pay 2,000 times. A digest is kept in `cache_dir` under a name made of what changes whenever
// the file does (device, inode, size, ctime in ns; ctime cannot be set back by hand).
cmdbuild::ShippedFile describe(const std::filesystem::path& path,
                               const std::filesystem::path& cache_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("cannot ship " + path.string() + ": not found");
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  std::filesystem::path cached;
  if (!cache_dir.empty()) {
    cached = cache_dir
             / ("sha256-" + std::to_string(st.st_dev) + "-" + std::to_string(st.st_ino) + "-"
                + std::to_string(size) + "-" + std::to_string(st.st_ctim.tv_sec) + "."
                + std::to_string(st.st_ctim.tv_nsec));
    try {
      std::string digest = spool::read_file(cached);
      if (is_sha256(digest)) {
        return cmdbuild::ShippedFile{size, digest};
      }
    } catch (const std::exception&) {
      // not cached yet
    }
  }
  CommandOutcome sum = run_command({"sha256sum", "--", path.string()}, {}, k_step_timeout);
  if (sum.exit_code != 0 || sum.out.size() < 64 || !is_sha256(sum.out.substr(0, 64))) {
    throw std::runtime_error("sha256sum " + path.string() + " failed: " + sum.last_err_line());
  }
  std::string digest = sum.out.substr(0, 64);
  if (!cached.empty()) {
    try {
      (void)::mkdir(cache_dir.c_str(), 0700);
      spool::AtomicFile file(cached, spool::Durability::atomic_only);
      file.write(digest);
      file.commit();
    } catch (const std::exception&) {
      // a cache that cannot be written costs time, not correctness
    }
  }
  return cmdbuild::ShippedFile{size, digest};
}

std::string first_line_after(const std::string& text, const std::string& prefix) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string line = text.substr(at, end == std::string::npos ? end : end - at);
    if (line.rfind(prefix, 0) == 0) {
      return line.substr(prefix.size());
    }
    if (end == std::string::npos) {
      break;
    }
    at = end + 1;
  }
  return {};
}

} // namespace

FarSetup ensure_far_chaperone(const cmdbuild::Target& target,
                              const LocalBinaries& binaries,
                              const std::shared_ptr<spdlog::logger>& log) {
  cmdbuild::ShippedFile front = describe(binaries.chaperone, binaries.hash_cache);
  cmdbuild::ShippedFile supervisor = describe(binaries.supervisor, binaries.hash_cache);
  // Same version, same bytes: one cache dir per build, so two builds of one version never
  // share (or fight over) a directory.
  std::string name = std::string(k_version_line.substr(k_version_line.rfind(' ') + 1)) + "-"
                     + front.sha256.substr(0, 8) + supervisor.sha256.substr(0, 8);
  CommandOutcome probe_run = run_command(
      cmdbuild::far_probe_command(target, std::string(k_version_line), name), {}, k_step_timeout);
  if (probe_run.exit_code != 0) {
    return ssh_failure(target, "probe", probe_run);
  }
  std::string user = first_line_after(probe_run.out, "user ");
  size_t result_at = probe_run.out.find('\n');
  cmdbuild::FarProbe probe = cmdbuild::parse_far_probe(
      result_at == std::string::npos ? std::string() : probe_run.out.substr(result_at + 1));
  FarSetup setup;
  setup.user = user;
  switch (probe.kind) {
  case cmdbuild::FarProbe::Kind::found:
    setup.ok = true;
    setup.chaperone = probe.path;
    log->info("far chaperone on {}: {} (user {})", target.host, probe.path, user);
    return setup;
  case cmdbuild::FarProbe::Kind::refused:
    return failure(125, "far host " + target.host + ": " + probe.reason);
  case cmdbuild::FarProbe::Kind::unknown:
    return failure(
        125, "far host " + target.host + ": unexpected probe output \"" + probe.reason + "\"");
  case cmdbuild::FarProbe::Kind::missing:
    break;
  }
  utsname here{};
  (void)::uname(&here);
  if (probe.machine != here.machine || probe.kernel != here.sysname) {
    return failure(125,
                   "far host " + target.host + " is " + probe.kernel + " " + probe.machine
                       + ", this chaperone is built for " + here.sysname + " " + here.machine
                       + ": cannot ship it (install chaperone there, same version, in PATH)");
  }
  log->info("shipping chaperone to {} ({} + {} bytes) into cache {}",
            target.host,
            front.size,
            supervisor.size,
            name);
  CommandOutcome install =
      run_command(cmdbuild::far_install_command(target, name, front, supervisor),
                  {binaries.chaperone, binaries.supervisor},
                  k_ship_timeout);
  std::string installed = first_line_after(install.out, "installed ");
  if (install.exit_code != 0 || installed.empty()) {
    std::string reason = first_line_after(install.out, "refused ");
    if (reason.empty()) {
      reason = first_line_after(install.out, "error ");
    }
    if (!reason.empty()) {
      return failure(125, "far host " + target.host + ": " + reason);
    }
    return ssh_failure(target, "install", install);
  }
  setup.ok = true;
  setup.shipped = true;
  setup.chaperone = installed;
  return setup;
}

FarSetup launch_far_run(const cmdbuild::Target& target,
                        FarSetup setup,
                        const std::string& far_id,
                        const std::vector<std::string>& run_args,
                        bool retrying,
                        const std::shared_ptr<spdlog::logger>& log) {
  std::vector<std::string> args{"run", "-d", "--name", far_id};
  args.insert(args.end(), run_args.begin(), run_args.end());
  CommandOutcome launched = run_command(
      cmdbuild::far_chaperone_command(target, setup.chaperone, args), {}, k_step_timeout);
  bool ours = launched.exit_code == 0
              || (retrying && launched.exit_code == 125
                  && launched.err.find("already exists") != std::string::npos);
  if (!ours) {
    if (launched.exit_code == 255 || launched.timed_out) {
      return ssh_failure(target, "launch", launched);
    }
    return failure(launched.exit_code == 0 ? 125 : launched.exit_code,
                   "far chaperone on " + target.host + ": " + launched.last_err_line());
  }
  log->info("far run {} started on {}", far_id, target.host);
  setup.ok = true;
  return setup;
}

} // namespace chaperone
