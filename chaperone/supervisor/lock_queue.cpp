// chaperone/supervisor/lock_queue.cpp: see lock_queue.hpp.
#include "chaperone/supervisor/lock_queue.hpp"

#include "spool/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <system_error>

namespace chaperone {

namespace {

std::string key_text(const QueueKey& key) {
  std::string text;
  for (std::uint64_t part : key.parts) {
    char buffer[32];
    (void)std::snprintf(buffer,
                        sizeof buffer,
                        "%s%010llu",
                        text.empty() ? "" : ".",
                        static_cast<unsigned long long>(part));
    text += buffer;
  }
  return text;
}

// "0000000042.0000000057-x" -> key {42, 57}, exclusive. Anything else (temp files, hidden
// names) is not a ticket.
std::optional<QueueEntry> parse_ticket_name(const std::string& name) {
  if (name.size() < 3 || name[name.size() - 2] != '-') {
    return std::nullopt;
  }
  char mode = name.back();
  if (mode != 'x' && mode != 's') {
    return std::nullopt;
  }
  QueueEntry entry;
  entry.exclusive = mode == 'x';
  std::uint64_t part = 0;
  bool digits = false;
  for (size_t i = 0; i + 2 < name.size(); ++i) {
    char c = name[i];
    if (c >= '0' && c <= '9' && part <= (UINT64_MAX - 9) / 10) {
      part = part * 10 + static_cast<std::uint64_t>(c - '0');
      digits = true;
    } else if (c == '.' && digits) {
      entry.key.parts.push_back(part);
      part = 0;
      digits = false;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) {
    return std::nullopt;
  }
  entry.key.parts.push_back(part);
  return entry;
}

void make_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw std::system_error(error, "mkdir " + dir.string());
  }
}

bool set_lock(int fd, int command, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  for (;;) {
    if (::fcntl(fd, command, &lock) == 0) {
      return true;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

} // namespace

LockQueue::LockQueue(const std::filesystem::path& root,
                     const std::string& kind,
                     const std::string& name)
    : m_queue_root(root / ".locks" / "queue"), m_dir(m_queue_root / kind / name) {
  make_dir(m_dir);
  make_dir(m_queue_root / ".tmp");
}

QueueTicket LockQueue::join(const std::string& run_id,
                            bool exclusive,
                            const std::optional<QueueKey>& after) const {
  // The counter's lock serialises every join: numbers come out in order, and the one temp
  // name below is never used by two creators at once.
  std::filesystem::path seq_path = m_queue_root / ".seq";
  spool::Fd seq{::open(seq_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!seq.valid()) {
    spool::throw_errno("open " + seq_path.string());
  }
  if (!set_lock(seq.get(), F_OFD_SETLKW, F_WRLCK)) {
    spool::throw_errno("fcntl F_OFD_SETLKW " + seq_path.string());
  }
  char buffer[32] = {};
  ssize_t got = ::pread(seq.get(), buffer, sizeof buffer - 1, 0);
  if (got < 0) {
    spool::throw_errno("read " + seq_path.string());
  }
  std::uint64_t number = std::strtoull(buffer, nullptr, 10) + 1;
  int length =
      std::snprintf(buffer, sizeof buffer, "%020llu\n", static_cast<unsigned long long>(number));
  if (::pwrite(seq.get(), buffer, static_cast<size_t>(length), 0) != length) {
    spool::throw_errno("write " + seq_path.string());
  }

  QueueKey key = after.value_or(QueueKey{});
  key.parts.push_back(number);
  std::string name = key_text(key) + (exclusive ? "-x" : "-s");

  // Locked before it is visible: a reader never mistakes a ticket being born for a dead one.
  std::filesystem::path temp = m_queue_root / ".tmp" / "ticket";
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT) { // left by a creator SIGKILLed here
    spool::throw_errno("unlink " + temp.string());
  }
  spool::Fd fd{::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid()) {
    spool::throw_errno("open " + temp.string());
  }
  if (!set_lock(fd.get(), F_OFD_SETLK, F_WRLCK)) {
    spool::throw_errno("fcntl F_OFD_SETLK " + temp.string());
  }
  std::string content = run_id + "\n";
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    spool::throw_errno("write " + temp.string());
  }
  std::filesystem::path path = m_dir / name;
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    spool::throw_errno("rename " + temp.string() + " " + path.string());
  }
  return {std::move(key), exclusive, std::move(fd)};
}

std::vector<QueueEntry> LockQueue::live() const {
  std::vector<QueueEntry> line;
  DIR* dir = ::opendir(m_dir.c_str());
  if (dir == nullptr) {
    spool::throw_errno("opendir " + m_dir.string());
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  while (dirent* item = ::readdir(dir)) {
    std::string name = item->d_name;
    std::optional<QueueEntry> entry = parse_ticket_name(name);
    if (!entry) {
      continue;
    }
    std::filesystem::path path = m_dir / name;
    // Read-only, so that our close wakes nobody (waiters watch IN_CLOSE_WRITE).
    spool::Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (!fd.valid()) {
      if (errno == ENOENT) {
        continue; // swept, or renamed, since readdir
      }
      spool::throw_errno("open " + path.string());
    }
    struct flock probe {};
    probe.l_type = F_RDLCK;
    probe.l_whence = SEEK_SET;
    probe.l_start = 0;
    probe.l_len = 1;
    if (::fcntl(fd.get(), F_OFD_GETLK, &probe) != 0) {
      spool::throw_errno("fcntl F_OFD_GETLK " + path.string());
    }
    if (probe.l_type == F_UNLCK) {
      // Its owner closed it or died; nobody locks a ticket twice, so it stays dead.
      (void)::unlink(path.c_str());
      continue;
    }
    char buffer[512];
    ssize_t got = ::pread(fd.get(), buffer, sizeof buffer, 0);
    if (got > 0) {
      entry->run_id.assign(buffer, static_cast<size_t>(got));
      if (!entry->run_id.empty() && entry->run_id.back() == '\n') {
        entry->run_id.pop_back();
      }
    }
    line.push_back(std::move(*entry));
  }
  std::sort(line.begin(), line.end(), [](const QueueEntry& a, const QueueEntry& b) {
    return a.key < b.key;
  });
  return line;
}

bool LockQueue::may_go(const std::vector<QueueEntry>& line, const QueueKey& key, bool exclusive) {
  return std::none_of(line.begin(), line.end(), [&](const QueueEntry& entry) {
    return entry.key < key && (exclusive || entry.exclusive);
  });
}

} // namespace chaperone
