// chaperone/cli/exit_now.hpp: ending a finished command without the clean-up of a normal exit.
#pragma once

namespace chaperone {

// Flushes stdio and ends the process with CODE at once, without freeing the heap or running
// destructors: the kernel takes it all back anyway, and after `run` has forked a supervisor
// that goes on in our image every page the clean-up writes would first be copied. Only for a
// command that holds nothing a destructor must finish (files written, locks marking a
// reader). Returns, doing nothing but the flush, in a sanitizer build: its leak check runs at
// a normal exit and must see the whole program.
void exit_now(int code);

} // namespace chaperone
