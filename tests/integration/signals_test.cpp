#include "tests/integration/common.hpp"
