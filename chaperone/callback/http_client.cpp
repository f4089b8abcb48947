// chaperone/callback/http_client.cpp: libcurl easy handle with chaperone's safe defaults.
#include "chaperone/callback/http_client.hpp"

#include <curl/curl.h>

#include <stdexcept>

namespace chaperone {

namespace {

size_t keep_start(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t n = size * count;
  if (body->size() < 200) {
    body->append(data, std::min(n, 200 - body->size()));
  }
  return n;
}

struct HeaderList {
  curl_slist* list = nullptr;
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  HeaderList(HeaderList&&) = delete;
  HeaderList& operator=(HeaderList&&) = delete;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* grown = curl_slist_append(list, line.c_str());
    if (grown == nullptr) {
      throw std::bad_alloc();
    }
    list = grown;
  }
};

} // namespace

HttpClient::HttpClient(const CallbackConfig& config, std::optional<std::string> token)
    : m_config(config), m_token(std::move(token)), m_curl(curl_easy_init()) {
  if (m_curl == nullptr) {
    throw std::runtime_error("curl_easy_init failed");
  }
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(m_curl));
}

HttpResult HttpClient::send(const std::string& url,
                            std::string_view body,
                            const std::string& content_type,
                            const std::vector<std::string>& headers) {
  auto* curl = static_cast<CURL*>(m_curl);
  curl_easy_reset(curl);
  HeaderList list;
  list.add("Content-Type: " + content_type);
  // Python's http.server and others do not answer 100-continue: send the body at once.
  list.add("Expect:");
  if (m_token) {
    list.add("Authorization: Bearer " + *m_token);
  }
  for (const std::string& header : headers) {
    list.add(header);
  }
  std::string answer;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  long timeout_ms = static_cast<long>(m_config.request_timeout.count());
  (void)curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  (void)curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  (void)curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  (void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  (void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  (void)curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10'000L));
  (void)curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  (void)curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!m_config.ca_file.empty()) {
    (void)curl_easy_setopt(curl, CURLOPT_CAINFO, m_config.ca_file.c_str());
  }
  (void)curl_easy_setopt(curl, CURLOPT_POST, 1L);
  (void)curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m_config.method.c_str());
  (void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  (void)curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list.list);
  (void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_start);
  (void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  (void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  HttpResult result;
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    result.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    return result;
  }
  (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  if (!result.accepted()) {
    result.error = "HTTP " + std::to_string(result.status);
    if (!answer.empty()) {
      result.error += ": " + answer.substr(0, answer.find('\n'));
    }
  }
  return result;
}

} // namespace chaperone
