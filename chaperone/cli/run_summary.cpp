// chaperone/run_summary.cpp: rendering helpers for ls and status.
#include "chaperone/cli/run_summary.hpp"

#include "spool/host.hpp"
#include "spool/shell_quote.hpp"

#include <cstdio>

namespace chaperone {

namespace {

std::string format_seconds(double total) {
  char buffer[32];
  if (total < 60) {
    (void)std::snprintf(buffer, sizeof buffer, "%.3fs", total);
  } else if (total < 3600) {
    (void)std::snprintf(buffer,
                        sizeof buffer,
                        "%dm%02ds",
                        static_cast<int>(total) / 60,
                        static_cast<int>(total) % 60);
  } else {
    (void)std::snprintf(buffer,
                        sizeof buffer,
                        "%dh%02dm",
                        static_cast<int>(total) / 3600,
                        (static_cast<int>(total) % 3600) / 60);
  }
  return buffer;
}

} // namespace

std::string command_line_for_display(const nlohmann::json& argv) {
  return spool::shell_command_line(argv, std::string::npos);
}

std::string duration_for_display(const spool::RunState& state) {
  auto start = spool::parse_utc(state.start_time);
  if (!start) {
    return "-";
  }
  spool::SystemTime end;
  if (auto parsed_end = spool::parse_utc(state.end_time)) {
    end = *parsed_end;
  } else if (!spool::is_final(state.state)) {
    end = std::chrono::system_clock::now();
  } else {
    return "-";
  }
  return format_seconds(std::chrono::duration<double>(end - *start).count());
}

std::string duration_for_display(std::optional<double> seconds) {
  return seconds ? format_seconds(*seconds) : "-";
}

std::string time_for_display(const std::string& iso_time) {
  if (iso_time.size() < 19) {
    return "-";
  }
  std::string shown = iso_time.substr(0, 19);
  shown[10] = ' ';
  return shown;
}

} // namespace chaperone
