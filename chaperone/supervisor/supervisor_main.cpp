// chaperone/supervisor_main.cpp: entry point of chaperone-supervisor, started by the front
// end in its own session with the run's lock on fd 3 (or exec'd back from chaperone-hold).
// Kept apart from the CLI so that the process that lives for the whole run carries no
// command-line parser.
#include "chaperone/supervisor/supervisor_entry.hpp"

#include <string>
#include <vector>

int main(int argc, char** argv) {
  chaperone::prepare_supervisor_process();
  return chaperone::run_supervisor(std::vector<std::string>(argv + 1, argv + argc), {});
}
