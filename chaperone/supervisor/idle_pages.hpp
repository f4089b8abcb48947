// chaperone/supervisor/idle_pages.hpp: gives back the pages that only the supervisor's
// start-up needed, once it has settled down to wait for the program.
#pragma once

namespace chaperone {

// Called once, when the program has run for a moment (supervisor.cpp k_settle_ms). A supervisor
// lives as long as its program, one per run, so what its start-up left mapped is paid per run for
// the run's whole life (docs/bench/MEMORY-2026-12-02c.md). Here: the binary's read-only pages (code
// and constants) that start-up ran through are unmapped from this process. They stay in the page
// cache, shared by every supervisor, and fault back in (minor faults, no I/O while cached) when the
// loop and the end of the run need them. A page of those mappings that this process holds as a
// private copy (a debugger's breakpoint, a uprobe, an mprotect'ed write) is kept, contents and all.
// Best effort: without /proc/self/pagemap nothing is dropped; nothing is thrown.
void release_startup_pages() noexcept;

} // namespace chaperone
