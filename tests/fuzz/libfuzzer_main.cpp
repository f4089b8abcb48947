// tests/fuzz/libfuzzer_main.cpp: libFuzzer entry point (built by scripts/fuzz with clang;
// CHAPERONE_FUZZ_TARGET picks the property at compile time).
#include "tests/fuzz/fuzz_targets.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CHAPERONE_FUZZ_TARGET(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
