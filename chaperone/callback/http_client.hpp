// chaperone/callback/http_client.hpp: one HTTP(S) request at a time through libcurl.
#pragma once

#include "chaperone/client/agent_program.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone {

struct HttpResult {
  long status = 0;   // the HTTP status; 0 when no answer came
  std::string error; // why there was no answer, or the start of a non-2xx answer's body
  bool accepted() const { return status >= 200 && status < 300; }
};

// Sends requests with config.method, the bearer token, TLS verification on (config.ca_file
// for a private CA), only http/https, no redirects, and config.request_timeout per request.
// No message it produces contains the token.
class HttpClient {
public:
  HttpClient(const CallbackConfig& config, std::optional<std::string> token);
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&&) = delete;
  HttpClient& operator=(HttpClient&&) = delete;
  ~HttpClient();

  // `headers` are "Name: value" lines added to ours.
  HttpResult send(const std::string& url,
                  std::string_view body,
                  const std::string& content_type,
                  const std::vector<std::string>& headers);

private:
  CallbackConfig m_config;
  std::optional<std::string> m_token;
  void* m_curl; // CURL*: the handle keeps connections alive between requests
};

} // namespace chaperone
