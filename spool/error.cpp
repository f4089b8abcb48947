// spool/error.cpp: std::system_error construction for failed system calls.
#include "spool/error.hpp"

#include <cerrno>
#include <system_error>

namespace chaperone::spool {

void throw_errno(const std::string& context) {
  throw_error_code(errno, context);
}

void throw_error_code(int error_number, const std::string& context) {
  throw std::system_error(error_number, std::generic_category(), context);
}

} // namespace chaperone::spool
