// cmdbuild/printable.hpp: a value shown in a one-line error message (internal to cmdbuild,
// which may not use spool's equivalent).
#pragma once

#include <string>
#include <string_view>

namespace chaperone::cmdbuild {

// Control bytes and DEL as \xHH; everything else as is.
std::string printable(std::string_view value);

} // namespace chaperone::cmdbuild
