// chaperone/supervisor/version.hpp: what `chaperone --version` prints. A far chaperone is
// used only when it prints exactly this line (far_setup.cpp).
#pragma once

#include <string_view>

namespace chaperone {

inline constexpr std::string_view k_version_line = "chaperone 0.1.0";

} // namespace chaperone
