// tests/far/far_fixture.hpp: helpers for durable remote runs (`run --hold far`) against the
// test sshd: far users of our own (so a test controls their cache and PATH), the far spool
// seen from here (the far side is this machine), link cuts, clean-up of far runs.
#pragma once

#include "tests/remote_run/fixture.hpp"

#include <string>
#include <vector>

namespace chaperone::test {

// Creates (once) a login user `name` with `shell` and an sshd-usable account; wipes its far
// chaperone cache and spool so the test starts from a host that has never seen chaperone.
void fresh_far_user(const std::string& name, const std::string& shell = "/bin/sh");
std::string home_of(const std::string& user);
uid_t owner_of_path(const std::string& path);
std::string far_cache(const std::string& user); // ~/.cache/chaperone
std::string far_spool(const std::string& user); // ~/.local/state/chaperone/spool
// `run` options for a far-held run as `login` (no control master: cuts hit this run only),
// with fast keepalives so a silent link is noticed in ~3 s.
Args far_options(const std::string& login, Via via = Via::ssh);

// The run's `link` object from state.json ({} if none yet).
nlohmann::json link_of(const TempSpool& spool, const std::string& id);
std::string far_id_of(const TempSpool& spool, const std::string& id);

// Live far processes of `user` whose cmdline holds every word of `words`.
std::vector<pid_t> far_pids(const std::string& user, const std::vector<std::string>& words);
// The per-connection sshd processes above `pid` (up to the test sshd's listener).
std::vector<pid_t> session_sshds(pid_t pid);

// iptables DROP for the test sshd's port on lo while it lives.
class LinkCut {
public:
  LinkCut();
  LinkCut(const LinkCut&) = delete;
  LinkCut& operator=(const LinkCut&) = delete;
  LinkCut(LinkCut&&) = delete;
  LinkCut& operator=(LinkCut&&) = delete;
  ~LinkCut();

private:
  std::vector<Args> m_rules;
};

// At the end of a test: SIGKILLs what is left of far runs (their far supervisor and
// program group, as recorded in the far state.json) and removes them from the far spool.
class FarCleanup {
public:
  FarCleanup() = default;
  FarCleanup(const FarCleanup&) = delete;
  FarCleanup& operator=(const FarCleanup&) = delete;
  FarCleanup(FarCleanup&&) = delete;
  FarCleanup& operator=(FarCleanup&&) = delete;
  ~FarCleanup();
  void add(const std::string& user, const std::string& far_id);

private:
  std::vector<std::pair<std::string, std::string>> m_runs;
};

} // namespace chaperone::test
