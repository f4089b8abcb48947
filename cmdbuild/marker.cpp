// cmdbuild/marker.cpp: parses and strips the far side's nonce-tagged status lines.
#include "cmdbuild/marker.hpp"

#include "cmdbuild/printable.hpp"

#include <charconv>
#include <stdexcept>

namespace chaperone::cmdbuild {

namespace {

// A marker line is a few dozen bytes; a "marker" that runs on this long without a newline
// is the program's own output that happens to share our prefix (it cannot know the nonce,
// so in practice it is a truncated stream) and is passed through rather than held forever.
constexpr std::size_t k_max_event_length = 4096;

std::optional<long> parse_number(std::string_view text) {
  long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// Splits "word rest" at the first space; rest is empty without one.
std::pair<std::string_view, std::string_view> split_word(std::string_view text) {
  std::size_t space = text.find(' ');
  if (space == std::string_view::npos) {
    return {text, {}};
  }
  return {text.substr(0, space), text.substr(space + 1)};
}

} // namespace

void validate_nonce(std::string_view nonce) {
  bool ok = nonce.size() >= 8 && nonce.size() <= 64;
  for (char c : nonce) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    ok = ok && alnum;
  }
  if (!ok) {
    throw std::invalid_argument("nonce \"" + printable(nonce)
                                + "\": must be 8 to 64 ASCII letters or digits");
  }
}

std::string marker_line(std::string_view nonce, std::string_view event) {
  validate_nonce(nonce);
  if (event.find('\n') != std::string_view::npos) {
    throw std::invalid_argument("marker event: must not contain a newline");
  }
  std::string line = "\n";
  line.append(k_marker_tag).append(" ").append(nonce).append(" ").append(event).append("\n");
  return line;
}

MarkerFilter::MarkerFilter(std::string_view nonce, BeforeFirstMarker before_first)
    : m_filter_startup(before_first == BeforeFirstMarker::drop_perl_locale_warnings) {
  validate_nonce(nonce);
  m_needle = "\n";
  m_needle.append(k_marker_tag).append(" ").append(nonce).append(" ");
}

std::string MarkerFilter::feed(std::string_view bytes) {
  m_pending.append(bytes);
  std::string out;
  std::size_t pos = 0;
  while (pos < m_pending.size()) {
    std::size_t nl = m_pending.find('\n', pos);
    if (nl == std::string::npos) {
      emit(out, std::string_view(m_pending).substr(pos));
      pos = m_pending.size();
      break;
    }
    emit(out, std::string_view(m_pending).substr(pos, nl - pos));
    std::string_view rest = std::string_view(m_pending).substr(nl);
    if (rest.size() < m_needle.size()) {
      if (m_needle.compare(0, rest.size(), rest) == 0) {
        pos = nl; // could still become a marker: hold back from this newline on
        break;
      }
      emit(out, "\n");
      pos = nl + 1;
      continue;
    }
    if (rest.compare(0, m_needle.size(), m_needle) != 0) {
      emit(out, "\n");
      pos = nl + 1;
      continue;
    }
    std::size_t event_start = nl + m_needle.size();
    std::size_t end = m_pending.find('\n', event_start);
    if (end == std::string::npos) {
      if (m_pending.size() - event_start > k_max_event_length) {
        emit(out, "\n");
        pos = nl + 1;
        continue;
      }
      pos = nl; // a marker whose end has not arrived yet
      break;
    }
    end_startup(out);
    handle_event(std::string_view(m_pending).substr(event_start, end - event_start));
    pos = end + 1;
  }
  m_pending.erase(0, pos);
  return out;
}

std::string MarkerFilter::finish() {
  std::string out;
  end_startup(out);
  out.append(m_pending);
  m_pending.clear();
  return out;
}

void MarkerFilter::emit(std::string& out, std::string_view bytes) {
  if (!m_filter_startup) {
    out.append(bytes);
    return;
  }
  // Whole lines only: a warning is recognised by its start, and perl may write it in pieces.
  m_startup_line.append(bytes);
  std::size_t start = 0;
  std::size_t nl = 0;
  while ((nl = m_startup_line.find('\n', start)) != std::string::npos) {
    std::string_view line = std::string_view(m_startup_line).substr(start, nl + 1 - start);
    if (!is_locale_warning(line)) {
      out.append(line);
    }
    start = nl + 1;
  }
  m_startup_line.erase(0, start);
  if (m_startup_line.size() > k_max_event_length) {
    // No warning line is this long: pass it on rather than hold it until a newline.
    m_in_locale_warning = false;
    out.append(m_startup_line);
    m_startup_line.clear();
  }
}

void MarkerFilter::end_startup(std::string& out) {
  if (m_filter_startup) {
    out.append(m_startup_line);
    m_startup_line.clear();
    m_filter_startup = false;
  }
}

bool MarkerFilter::is_locale_warning(std::string_view line) {
  // perl 5's init_i18nl10n: "Setting locale failed." (or "... failed for the categories:"),
  // "Please check that your locale settings:", tab-indented VAR = "value" lines, "    are
  // supported and installed on your system.", "Falling back to ...".
  constexpr std::string_view k_first = "perl: warning: Setting locale failed";
  constexpr std::string_view k_prefix = "perl: warning: ";
  if (line.substr(0, k_first.size()) == k_first) {
    m_in_locale_warning = true;
    return true;
  }
  constexpr std::string_view k_last = "perl: warning: Falling back to";
  if (m_in_locale_warning
      && (line.substr(0, k_prefix.size()) == k_prefix || line.front() == '\t'
          || line.front() == ' ')) {
    m_in_locale_warning = line.substr(0, k_last.size()) != k_last;
    return true;
  }
  m_in_locale_warning = false;
  return false;
}

void MarkerFilter::handle_event(std::string_view event) {
  auto [kind, rest] = split_word(event);
  if (kind == "pid") {
    auto [pid_text, pgid_text] = split_word(rest);
    auto pid = parse_number(pid_text);
    auto pgid = parse_number(pgid_text);
    if (pid && pgid && *pid > 0 && *pgid > 0) {
      m_pid = static_cast<pid_t>(*pid);
      m_pgid = static_cast<pid_t>(*pgid);
      return;
    }
  } else if (kind == "exit") {
    auto code = parse_number(rest);
    if (code && *code >= 0 && *code <= 255) {
      m_exit_code = static_cast<int>(*code);
      return;
    }
  } else if (kind == "signal") {
    auto [number_text, flag] = split_word(rest);
    auto number = parse_number(number_text);
    if (number && *number > 0 && *number < 128 && (flag.empty() || flag == "core")) {
      m_signal = static_cast<int>(*number);
      m_core_dumped = flag == "core";
      return;
    }
  } else if (kind == "cwd") {
    m_cwd_error = std::string(rest);
    return;
  } else if (kind == "exec") {
    m_exec_error = std::string(rest);
    return;
  } else if (kind == "error") {
    m_wrapper_error = std::string(rest);
    return;
  }
  ++m_malformed_count;
}

} // namespace chaperone::cmdbuild
