// chaperone/logging.cpp: spdlog sinks (kept to this one file: spdlog is slow to compile).
#include "chaperone/supervisor/logging.hpp"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace chaperone {

std::shared_ptr<spdlog::logger> make_stderr_logger(int verbosity) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
  auto logger = std::make_shared<spdlog::logger>("chaperone", sink);
  logger->set_pattern("chaperone: %v");
  logger->set_level(verbosity >= 2   ? spdlog::level::debug
                    : verbosity == 1 ? spdlog::level::info
                                     : spdlog::level::warn);
  return logger;
}

std::shared_ptr<spdlog::logger> make_supervisor_logger(const std::filesystem::path& path) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_st>(path.string());
  auto logger = std::make_shared<spdlog::logger>("supervisor", sink);
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%dT%H:%M:%S.%fZ %l %P %v", spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  return logger;
}

} // namespace chaperone
