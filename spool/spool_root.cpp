// spool/spool_root.cpp: locating, creating and vetting the spool root.
#include "spool/spool_root.hpp"

#include "spool/error.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace chaperone::spool {

std::filesystem::path
default_spool_root(const char* chaperone_spool, const char* xdg_state_home, const char* home) {
  std::filesystem::path root;
  if (chaperone_spool != nullptr && *chaperone_spool != '\0') {
    root = chaperone_spool;
  } else if (xdg_state_home != nullptr && *xdg_state_home != '\0') {
    root = std::filesystem::path(xdg_state_home) / "chaperone" / "spool";
  } else if (home != nullptr && *home != '\0') {
    root = std::filesystem::path(home) / ".local" / "state" / "chaperone" / "spool";
  } else {
    throw std::invalid_argument("no spool root: set CHAPERONE_SPOOL, XDG_STATE_HOME or HOME");
  }
  if (root.is_relative()) {
    throw std::invalid_argument("spool root " + root.string() + " is not an absolute path");
  }
  return root.lexically_normal();
}

namespace {

void create_directories_0700(const std::filesystem::path& path) {
  std::filesystem::path partial;
  for (const auto& part : path) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      throw_errno("mkdir " + partial.string());
    }
  }
}

} // namespace

SpoolRoot SpoolRoot::open(const std::filesystem::path& path, bool create) {
  std::filesystem::path root = path.lexically_normal();
  if (!root.empty() && root.filename().empty()) {
    root = root.parent_path(); // drop a trailing '/'
  }
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) {
      throw_errno("stat spool root " + root.string());
    }
    create_directories_0700(root);
    if (::lstat(root.c_str(), &st) != 0) {
      throw_errno("stat spool root " + root.string());
    }
  }
  // A refusal is a policy, not a failed call: no errno text is appended (a symlink refused
  // with "Permission denied" sent people looking at modes).
  auto refuse = [&](const std::string& why) {
    throw std::runtime_error("spool root " + root.string() + " " + why);
  };
  if (S_ISLNK(st.st_mode)) {
    std::error_code ignored;
    std::filesystem::path target = std::filesystem::read_symlink(root, ignored);
    refuse("is a symlink" + (target.empty() ? std::string() : " to " + target.string())
           + "; a spool root must be a real directory: give its target instead");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw std::system_error(std::make_error_code(std::errc::not_a_directory),
                            "spool root " + root.string());
  }
  if (st.st_uid != ::geteuid()) {
    refuse("is owned by uid " + std::to_string(st.st_uid) + ", not by us (uid "
           + std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    refuse("is writable by group or others (chmod 700 it)");
  }
  if (::access(root.c_str(), W_OK | X_OK) != 0) {
    throw_errno("access spool root " + root.string());
  }
  return SpoolRoot(root);
}

} // namespace chaperone::spool
