// spool/printable.hpp: untrusted text made safe to put in a one-line error message.
#pragma once

#include "cmdbuild/printable.hpp"

namespace chaperone::spool {

// One escaping for the whole project (see cmdbuild/printable.hpp).
using cmdbuild::printable;

} // namespace chaperone::spool
