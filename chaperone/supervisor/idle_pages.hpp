// chaperone/supervisor/idle_pages.hpp: gives back the pages that only the supervisor's
// start-up needed, once it has settled down to wait for the program.
#pragma once

#include <cstdint>

namespace chaperone {

// How long a program runs before its supervisor gives back its start-up pages (and how long
// a mirror's link is up): a shorter run ends first and keeps them (its end would only fault
// them back in, ~0.1 ms of CPU on the way to its exit status); a longer one holds the
// supervisor's memory for its life.
constexpr std::uint64_t k_settle_ms = 100;

// Called once, when the program has run for k_settle_ms (mirror.cpp: the link has been up). A
// supervisor lives as long as its program, one per run, so what its start-up left mapped is paid
// per run for the run's whole life (docs/bench/MEMORY-2026-12-02c.md). Here: the binary's read-only
// pages (code and constants) that start-up ran through are unmapped from this process. They stay in
// the page cache, shared by every supervisor, and fault back in (minor faults, no I/O while cached)
// when the loop and the end of the run need them. A page of those mappings that this process holds
// as a private copy (a debugger's breakpoint, a uprobe, an mprotect'ed write) is kept, contents and
// all. Then the stack pages below the caller's frame are given back: start-up's deep calls left
// them dirty, and the loop's wait touches again only the few it reaches
// (docs/bench/MEMORY-2026-12-02d.md). The caller must have nothing of its own below its frame (it
// cannot: that is the ABI). Best effort: without /proc/self/pagemap or /proc/self/maps that part is
// skipped; nothing is thrown.
void release_startup_pages() noexcept;

} // namespace chaperone
