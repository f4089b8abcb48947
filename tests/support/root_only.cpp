// tests/support/root_only.cpp: linked (as an object library) into the suites that need root
// throughout (ssh, sudo, faults): every test case is skipped, as CTest counts it, when not
// root, before it creates anything. A listener, so no test case can forget the check.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "tests/support/skip.hpp"

#include <catch2/catch.hpp>

namespace chaperone::test {

namespace {

class RootOnly : public Catch::TestEventListenerBase {
public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    skip_unless_root();
    TestEventListenerBase::testCaseStarting(info);
  }
};

} // namespace

CATCH_REGISTER_LISTENER(RootOnly)

} // namespace chaperone::test
