// spool/run_list.cpp: directory scan and prefix resolution.
#include "spool/run_list.hpp"

#include "spool/error.hpp"
#include "spool/printable.hpp"
#include "spool/run_id.hpp"
#include "spool/run_names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>

namespace chaperone::spool {

namespace {

// Owns a DIR* for the duration of a scan.
class DirStream {
public:
  explicit DirStream(const std::filesystem::path& path) : m_dir(::opendir(path.c_str())) {
    if (m_dir == nullptr) {
      throw_errno("opendir " + path.string());
    }
  }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;
  DirStream(DirStream&&) = delete;
  DirStream& operator=(DirStream&&) = delete;
  ~DirStream() { ::closedir(m_dir); }
  DIR* get() const { return m_dir; }

private:
  DIR* m_dir;
};

bool is_real_directory(const SpoolRoot& root, const dirent* entry) {
  if (entry->d_type == DT_DIR) {
    return true;
  }
  if (entry->d_type != DT_UNKNOWN) {
    return false;
  }
  struct stat st {};
  return ::lstat((root.path() / entry->d_name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

std::vector<RunEntry> list_runs(const SpoolRoot& root) {
  DirStream dir(root.path());
  std::vector<RunEntry> runs;
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    if (entry->d_name[0] != '.' && is_real_directory(root, entry)) {
      runs.push_back(RunEntry{entry->d_name, entry->d_ino});
    }
    errno = 0;
  }
  if (errno != 0) {
    throw_errno("readdir " + root.path().string());
  }
  return runs;
}

std::vector<std::string> list_run_ids(const SpoolRoot& root) {
  std::vector<std::string> ids;
  for (RunEntry& entry : list_runs(root)) {
    ids.push_back(std::move(entry.run_id));
  }
  return ids;
}

std::optional<RunDir> lookup_run(const SpoolRoot& root, const std::string& text) {
  if (auto problem = run_id_problem(text)) {
    throw std::runtime_error("bad run id \"" + printable(text) + "\": " + *problem);
  }
  std::filesystem::path exact = root.path() / text;
  struct stat st {};
  if (::lstat(exact.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw std::runtime_error("run " + text + " is not a directory (refusing to follow it)");
    }
    return RunDir{exact, text};
  }
  // A large spool keeps a names file: one live candidate there is the answer. None or several
  // (an error either way, or a run put in place by hand) are settled by the readdir below.
  std::optional<std::vector<std::string>> candidates = names_with_prefix(root, text);
  if (candidates && candidates->size() == 1) {
    return RunDir{root.path() / candidates->front(), candidates->front()};
  }
  std::vector<std::string> ids = list_run_ids(root);
  std::vector<std::string> matches;
  for (const std::string& id : ids) {
    if (id.compare(0, text.size(), text) == 0) {
      matches.push_back(id);
    }
  }
  // Missing (at the size where it pays), or it lacked a run that exists: write it anew.
  if ((!candidates && ids.size() >= k_names_min_runs)
      || (candidates && candidates->size() < std::min<size_t>(matches.size(), 2))) {
    rewrite_names(root);
  }
  if (matches.empty()) {
    return std::nullopt;
  }
  if (matches.size() > 1) {
    std::sort(matches.begin(), matches.end());
    std::string list;
    for (size_t i = 0; i < matches.size() && i < 10; ++i) {
      list += (i ? ", " : "") + matches[i];
    }
    if (matches.size() > 10) {
      list += ", ... (" + std::to_string(matches.size()) + " in all)";
    }
    throw std::runtime_error("run prefix " + text + " is ambiguous: " + list);
  }
  return RunDir{root.path() / matches.front(), matches.front()};
}

RunDir find_run(const SpoolRoot& root, const std::string& text) {
  std::optional<RunDir> run = lookup_run(root, text);
  if (!run) {
    throw std::runtime_error("no such run: " + printable(text));
  }
  return std::move(*run);
}

} // namespace chaperone::spool
