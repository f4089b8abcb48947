// spool/spdlog_compiled.cpp: spdlog's out-of-line code, compiled once for the static builds.
//
// Debian ships spdlog as a shared library and as headers, no static archive; the static
// binaries used to take it header-only, which made every one of the ~20 sources that log
// compile all of spdlog again (6 of the 19 s supervisor.cpp took at -O2). With
// SPDLOG_COMPILED_LIB the headers only declare, and this file supplies the definitions from
// the same headers' -inl.h halves, and the class templates the project uses are instantiated
// here (the null-mutex sink base of supervisor/logging.cpp, the single-threaded stderr sink).
// A missing piece is a link error, never a silent difference.
// fmt stays header-only (FMT_HEADER_ONLY): what it costs a source is small beside spdlog.
#ifndef SPDLOG_COMPILED_LIB
#error "spool/spdlog_compiled.cpp is built with SPDLOG_COMPILED_LIB (CMakeLists.txt)"
#endif

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/console_globals.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>

template class spdlog::sinks::base_sink<spdlog::details::null_mutex>;
template class spdlog::sinks::stdout_sink_base<spdlog::details::console_nullmutex>;
template class spdlog::sinks::stderr_sink<spdlog::details::console_nullmutex>;
