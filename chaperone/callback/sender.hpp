// chaperone/callback/sender.hpp: delivers one run's output and outcome to its callback URL.
#pragma once

#include "chaperone/callback/http_client.hpp"
#include "chaperone/callback/sender_watch.hpp"
#include "chaperone/client/agent_program.hpp"
#include "chaperone/client/callback_files.hpp"
#include "spool/fd.hpp"
#include "spool/run_dir.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace chaperone {

// A reader of the run like `attach`: it follows the spool files (inotify watches that leave
// the program's writes alone: SenderWatch; a pidfd on the supervisor), posts each stream's new
// bytes to URL/output/stdout|stderr in batches of at most output_buffer bytes, at the latest
// output_latency after they appeared, and the agent state to URL/completed once the run is final
// and every byte is accepted. Each accepted request is recorded in callback.progress before the
// next is sent; a request that is not accepted is sent again, unchanged, every retry_frequency.
class CallbackSender {
public:
  CallbackSender(spool::RunDir run,
                 std::filesystem::path root,
                 CallbackConfig config,
                 std::optional<std::string> token,
                 std::shared_ptr<spdlog::logger> log);

  // Returns when `completed` was accepted (0) or the run dir was removed (0). Throws on
  // spool errors.
  int run();

private:
  using Clock = std::chrono::steady_clock;

  bool run_gone() const;
  // Sends until accepted; false if the run was removed meanwhile.
  bool deliver(const std::string& url,
               std::string_view body,
               const std::string& content_type,
               const std::vector<std::string>& headers);
  bool send_output(spool::Stream stream, std::uint64_t up_to, bool final);
  void watch_supervisor(const spool::RunState& state);
  void wait_for_change(std::optional<Clock::duration> timeout);

  spool::RunDir m_run;
  std::filesystem::path m_root;
  CallbackConfig m_config;
  HttpClient m_http;
  std::shared_ptr<spdlog::logger> m_log;
  CallbackProgress m_progress;
  std::optional<Clock::time_point> m_pending_since[2];
  std::optional<SenderWatch> m_watch;
  spool::Fd m_pidfd;
};

} // namespace chaperone
