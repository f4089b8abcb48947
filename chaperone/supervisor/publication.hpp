// chaperone/supervisor/publication.hpp: the supervisor's side of making a run visible.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace chaperone {

// The front end builds a run in a hidden temp dir, starts the supervisor with the run's
// lock, and only then renames the dir into place. So a run becomes visible only once its
// supervisor holds it: a caller killed before that leaves no `lost` run that never ran, only
// a hidden temp dir (removed here, or by `gc`).
struct Publication {
  int pipe_fd = -1;                  // read end; the front end closes the write end
  std::filesystem::path staged_path; // the hidden temp dir the run was built in
};

// Removes "--await-publish FD STAGED" from right after RUN_DIR in the supervisor's
// arguments, if there.
Publication take_publication_args(std::vector<std::string>& args);

// The front end's words for `--await-publish FD STAGED`.
std::vector<std::string> publication_args(int pipe_fd, const std::filesystem::path& staged);

// Waits until the front end has closed its end of the pipe (done, or dead), then tells
// whether `run_dir` is the run whose lock we hold on `lock_fd` (same inode). If not (the
// name was taken, or the caller died before the rename), removes the staged dir when it is
// still ours and returns false: the supervisor then exits without a trace.
bool await_publication(const Publication& publication,
                       const std::filesystem::path& run_dir,
                       int lock_fd);

} // namespace chaperone
