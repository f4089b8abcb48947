// cmdbuild/marker.hpp: the far side's status channel, nonce-tagged lines on stderr, and the
// filter that strips them from the program's stderr while parsing them. Pure: no I/O.
//
// Wire format: each event is written by one write(2) (atomic on a pipe) as
//   "\n" "chaperone-marker " NONCE " " EVENT "\n"
// EVENT is one of
//   pid PID PGID        the program's pid and group, written before it runs
//   exit N              the program exited with code N
//   signal N [core]     the program was killed by signal N
//   cwd REASON          chdir failed (strerror text); the program did not run; exit 125
//   exec REASON         exec failed (strerror text); followed by "exit 127" or "exit 126"
//   error REASON        the wrapper itself failed (fork, pipe); exit 125
// The leading newline is part of the marker and is stripped with it: a marker that lands
// after an unterminated line of the program (or inside one of its writes, which a pipe may
// split) leaves the program's bytes exactly as they were written.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace chaperone::cmdbuild {

inline constexpr std::string_view k_marker_tag = "chaperone-marker";

// What a MarkerFilter does with the stream before the first marker carrying its nonce.
enum class BeforeFirstMarker {
  keep, // every byte is passed on (local and sudo modes: the program may already write)
  // Drop perl's own start-up complaint about the locale, the block from a line beginning
  // "perl: warning: Setting locale failed" through its "perl: warning: ..." and indented
  // lines (ssh modes, where the far side's perl starts without PERL_BADLANG=0 and the
  // program cannot run before the wrapper's "pid" marker). Any other line is kept.
  drop_perl_locale_warnings,
};

// The bytes the far side writes for `event` (e.g. "exit 3"). Throws std::invalid_argument for
// a bad nonce or an event containing a newline.
std::string marker_line(std::string_view nonce, std::string_view event);

// Throws std::invalid_argument unless `nonce` is 8 to 64 ASCII letters or digits.
void validate_nonce(std::string_view nonce);

class MarkerFilter {
public:
  // Throws std::invalid_argument for a bad nonce (see validate_nonce).
  explicit MarkerFilter(std::string_view nonce,
                        BeforeFirstMarker before_first = BeforeFirstMarker::keep);

  // Takes the next chunk of the far side's stderr; returns the bytes that belong to the
  // program, in order. Bytes that may begin a marker are held back until the line is
  // complete or proves not to be one.
  std::string feed(std::string_view bytes);
  // At EOF: returns whatever is still held back (an incomplete marker is program output).
  std::string finish();

  std::optional<pid_t> pid() const { return m_pid; }
  std::optional<pid_t> pgid() const { return m_pgid; }
  std::optional<int> exit_code() const { return m_exit_code; }
  std::optional<int> signal() const { return m_signal; }
  bool core_dumped() const { return m_core_dumped; }
  // True once "exit" or "signal" was seen: the status is the program's own.
  bool finished() const { return m_exit_code.has_value() || m_signal.has_value(); }
  std::optional<std::string> cwd_error() const { return m_cwd_error; }
  std::optional<std::string> exec_error() const { return m_exec_error; }
  std::optional<std::string> wrapper_error() const { return m_wrapper_error; }
  // Marker lines with our nonce that could not be parsed (kept for diagnostics).
  int malformed_count() const { return m_malformed_count; }

private:
  void handle_event(std::string_view event);
  // Appends program bytes to `out`, through the start-up filter until the first marker.
  void emit(std::string& out, std::string_view bytes);
  // The first marker arrived: whatever the start-up filter still holds is passed on.
  void end_startup(std::string& out);
  bool is_locale_warning(std::string_view line);

  std::string m_needle; // "\n" tag " " nonce " "
  std::string m_pending;
  bool m_filter_startup = false; // drop_perl_locale_warnings and no marker seen yet
  std::string m_startup_line;    // an incomplete line before the first marker
  bool m_in_locale_warning = false;
  std::optional<pid_t> m_pid;
  std::optional<pid_t> m_pgid;
  std::optional<int> m_exit_code;
  std::optional<int> m_signal;
  bool m_core_dumped = false;
  std::optional<std::string> m_cwd_error;
  std::optional<std::string> m_exec_error;
  std::optional<std::string> m_wrapper_error;
  int m_malformed_count = 0;
};

} // namespace chaperone::cmdbuild
