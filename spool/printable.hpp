// spool/printable.hpp: untrusted text made safe to put in a one-line error message.
#pragma once

#include <string>
#include <string_view>

namespace chaperone::spool {

// Returns `text` with control bytes, DEL, backslash and non-ASCII bytes written as \xNN, so a
// name or a damaged file's content can neither break the message's single line nor send
// escape sequences to a terminal. Cut at 200 bytes of input.
std::string printable(std::string_view text);

} // namespace chaperone::spool
