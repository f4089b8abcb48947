// chaperone/cli/end_report.cpp: the line for failed, lost and timed-out runs.
#include "chaperone/cli/end_report.hpp"

#include "chaperone/cli/run_summary.hpp"

#include <spdlog/logger.h>

#include <string>

namespace chaperone {

void report_end(const spool::RunDir& run, const spool::RunState& state, spdlog::logger& log) {
  if (state.state != spool::RunStatus::failed && state.state != spool::RunStatus::lost
      && state.state != spool::RunStatus::timed_out) {
    return;
  }
  std::string what = spool::to_string(state.state);
  if (state.state == spool::RunStatus::lost) {
    // When its supervisor died is not recorded anywhere (it could not record it); the first
    // reader that found the lock free wrote down when that was.
    auto found = state.extra.find("lost_detected_time");
    if (found != state.extra.end() && found->is_string()) {
      what += " since " + time_for_display(found->get<std::string>()) + " UTC";
    }
  }
  log.error("run {} {}: {}", run.run_id(), what, state.error.value_or("(no reason recorded)"));
}

} // namespace chaperone
