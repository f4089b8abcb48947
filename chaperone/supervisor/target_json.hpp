// chaperone/target_json.hpp: a cmdbuild::Target as recorded in spec.json, and back.
#pragma once

#include "cmdbuild/command.hpp"

#include <nlohmann/json.hpp>

namespace chaperone {

nlohmann::json target_to_json(const cmdbuild::Target& target);
// Throws std::runtime_error naming the field if `json` is not a recorded target.
cmdbuild::Target target_from_json(const nlohmann::json& json);

} // namespace chaperone
