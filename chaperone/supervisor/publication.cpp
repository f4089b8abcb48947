// chaperone/supervisor/publication.cpp: wait for the front end's rename, then check it.
#include "chaperone/supervisor/publication.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace chaperone {

namespace {

constexpr const char* k_flag = "--await-publish";

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

} // namespace

Publication take_publication_args(std::vector<std::string>& args) {
  Publication publication;
  // Right after RUN_DIR, which stays argv[1] for anyone looking for a run's supervisor.
  if (args.size() < 4 || args[1] != k_flag) {
    return publication;
  }
  try {
    publication.pipe_fd = std::stoi(args[2]);
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string(k_flag) + ": bad fd \"" + args[2] + "\"");
  }
  publication.staged_path = args[3];
  args.erase(args.begin() + 1, args.begin() + 4);
  return publication;
}

std::vector<std::string> publication_args(int pipe_fd, const std::filesystem::path& staged) {
  return {k_flag, std::to_string(pipe_fd), staged.string()};
}

bool await_publication(const Publication& publication,
                       const std::filesystem::path& run_dir,
                       int lock_fd) {
  char byte = 0;
  for (;;) {
    ssize_t n = ::read(publication.pipe_fd, &byte, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) {
      break; // EOF: the front end renamed (or not) and closed, or it died
    }
  }
  ::close(publication.pipe_fd);
  struct stat held {};
  if (::fstat(lock_fd, &held) != 0) {
    throw std::system_error(errno, std::generic_category(), "fstat lock fd");
  }
  struct stat published {};
  if (::stat((run_dir / "lock").c_str(), &published) == 0 && same_file(held, published)) {
    return true;
  }
  // Not ours under that name. Remove the staged dir only if it still holds our lock file:
  // a stale path must never make us delete someone else's run.
  struct stat staged {};
  if (::stat((publication.staged_path / "lock").c_str(), &staged) == 0 && same_file(held, staged)) {
    std::error_code ignored;
    std::filesystem::remove_all(publication.staged_path, ignored);
  }
  return false;
}

} // namespace chaperone
