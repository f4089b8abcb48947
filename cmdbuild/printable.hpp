// cmdbuild/printable.hpp: untrusted text made safe to put in a one-line error message. The one
// escaping of the project: cmdbuild is the lowest layer (std only), so spool uses it too.
#pragma once

#include <string>
#include <string_view>

namespace chaperone::cmdbuild {

// Returns `value` with control bytes, DEL, backslash and non-ASCII bytes written as \xNN, so a
// name or a damaged file's content can neither break the message's single line nor send
// escape sequences to a terminal. Cut at 200 bytes of input (then "..." is appended).
std::string printable(std::string_view value);

} // namespace chaperone::cmdbuild
