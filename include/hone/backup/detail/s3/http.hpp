// A small blocking HTTP/1.1 client on libcurl for the S3 destination: one request at a time per
// handle, the body sent from memory with a Content-Length (never chunked, no Expect:
// 100-continue), the response body collected in memory or handed to a sink. Handles are pooled
// so that connections are reused across requests and threads.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>

namespace hone::backup::detail::s3 {

struct http_request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::span<const std::byte> body;  ///< sent with Content-Length: body.size() (PUT, POST)
};

struct http_response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names in lower case
  std::string body;
  /// The first header of that (lower-case) name, or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

/// A request that got no HTTP response (no connection, a timeout, a reset).
struct transport_failure {
  CURLcode code = CURLE_OK;
  std::string message;
  /// Worth another try: connection and timeout failures, not a malformed URL or a TLS
  /// certificate that does not verify.
  bool retryable() const noexcept {
    switch (code) {
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_OUT_OF_MEMORY:
      case CURLE_ABORTED_BY_CALLBACK:
      case CURLE_WRITE_ERROR: return false;
      default: return true;
    }
  }
};

struct http_settings {
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer is abandoned when less than 1 byte per second moved for this long.
  std::chrono::seconds idle_timeout{60};
  std::chrono::milliseconds request_timeout{0};  ///< 0: no limit on the whole request
  std::string ca_file;                           ///< extra CA bundle for https (empty: the system's)
  bool verify_tls = true;
};

namespace http_detail {
inline void global_init() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}
struct curl_deleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
struct transfer {
  std::span<const std::byte> body;
  std::size_t sent = 0;
  http_response* response = nullptr;
  const std::function<bool(std::span<const std::byte>)>* sink = nullptr;
};
inline std::size_t on_read(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::size_t k = std::min(size * n, t->body.size() - t->sent);
  if (k) std::memcpy(buf, t->body.data() + t->sent, k);
  t->sent += k;
  return k;
}
inline std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::size_t k = size * n;
  if (t->sink && t->response->status / 100 == 2) {
    if (!(*t->sink)({reinterpret_cast<const std::byte*>(data), k})) return 0;
  } else {
    t->response->body.append(data, k);
  }
  return k;
}
inline std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 Continue, a redirect)
    t->response->headers.clear();
    const auto sp = line.find(' ');
    t->response->status = sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}
}  // namespace http_detail

/// Pooled libcurl handles. Thread-safe; copies share the pool.
class http_client {
 public:
  explicit http_client(http_settings s = {}) : state_(std::make_shared<state>()) {
    http_detail::global_init();
    state_->settings = std::move(s);
  }

  const http_settings& settings() const noexcept { return state_->settings; }

  /// Performs one request. A response of any status is returned; no response at all gives
  /// `failure` (and an empty response). With a sink, a 2xx body goes to the sink (which
  /// returns false to stop), any other body is collected in the response for its error.
  http_response perform(const http_request& req, transport_failure& failure,
                        const std::function<bool(std::span<const std::byte>)>& sink = {}) const {
    auto h = borrow();
    CURL* c = h.get();
    curl_easy_reset(c);
    http_response resp;
    http_detail::transfer t{req.body, 0, &resp, sink ? &sink : nullptr};
    std::unique_ptr<curl_slist, http_detail::slist_deleter> list;
    auto add = [&](const std::string& line) {
      curl_slist* l = curl_slist_append(list.get(), line.c_str());
      if (!l) throw std::bad_alloc();
      (void)list.release();
      list.reset(l);
    };
    for (const auto& [k, v] : req.headers) add(k + ": " + v);
    add("Expect:");  // no 100-continue round trip
    const auto& s = state_->settings;
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(s.idle_timeout.count()));
    if (s.request_timeout.count() > 0)
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(s.request_timeout.count()));
    if (!s.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s.ca_file.c_str());
    if (!s.verify_tls) {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &http_detail::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &http_detail::on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT") {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &http_detail::on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, &t);
    } else if (req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &http_detail::on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, &t);
    } else if (req.method != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink && resp.status / 100 == 2)) {
      failure.code = rc;
      failure.message = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      while (!failure.message.empty() && failure.message.back() == '\n') failure.message.pop_back();
      h.discard();  // the connection state is unknown
      return {};
    }
    failure = {};
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp.status = status;
    return resp;
  }

 private:
  using handle_ptr = std::unique_ptr<CURL, http_detail::curl_deleter>;
  struct state {
    http_settings settings;
    std::mutex m;
    std::vector<handle_ptr> idle;
  };
  /// A handle taken from the pool, given back when done (unless discarded).
  class lease {
   public:
    lease(std::shared_ptr<state> s, handle_ptr h) : s_(std::move(s)), h_(std::move(h)) {}
    lease(lease&&) = default;
    ~lease() {
      if (!h_) return;
      std::lock_guard lk(s_->m);
      if (s_->idle.size() < 8) s_->idle.push_back(std::move(h_));
    }
    CURL* get() const noexcept { return h_.get(); }
    void discard() { h_.reset(curl_easy_init()); }

   private:
    std::shared_ptr<state> s_;
    handle_ptr h_;
  };
  lease borrow() const {
    {
      std::lock_guard lk(state_->m);
      if (!state_->idle.empty()) {
        handle_ptr h = std::move(state_->idle.back());
        state_->idle.pop_back();
        return lease(state_, std::move(h));
      }
    }
    handle_ptr h(curl_easy_init());
    if (!h) throw std::bad_alloc();
    return lease(state_, std::move(h));
  }
  std::shared_ptr<state> state_;
};

}  // namespace hone::backup::detail::s3
