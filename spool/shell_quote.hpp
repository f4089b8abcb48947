// spool/shell_quote.hpp: argv shown as a line that a shell (bash, zsh, ksh) takes back as the
// same words.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace chaperone::spool {

// The word as is when it needs no quoting, else in single quotes ('it'\''s'); a word with
// control bytes or bytes that are not printable ASCII in $'...' with \xNN escapes.
std::string shell_quote(const std::string& word);

// The words of a JSON argv array, each shell_quote()d, joined with spaces; a non-string
// element shows as `?`. Stops after about `limit` bytes, ending in "..." when it did.
std::string shell_command_line(const nlohmann::json& argv, size_t limit = 200);

} // namespace chaperone::spool
