// chaperone/cli/end_report.hpp: the one line that says why a run ended badly.
#pragma once

#include "spool/run_dir.hpp"
#include "spool/state.hpp"

namespace spdlog {
class logger;
}

namespace chaperone {

// For a run that ended `failed`, `lost` or `timed_out` (the ends whose exit code is
// chaperone's, not the program's), logs one error line naming the run and why: the
// recorded error, and for a lost run since when it is known to be lost. Other ends say
// nothing: the program's own exit code speaks for itself. Used by every command that
// exits with a run's code (run, attach, wait, tail -f), so none exits 125 without a word.
void report_end(const spool::RunDir& run, const spool::RunState& state, spdlog::logger& log);

} // namespace chaperone
