// A small blocking HTTP/1.1 client on libcurl for the S3 destination: one request at a time per
// handle, the body sent from memory with a Content-Length (never chunked, no Expect:
// 100-continue), the response body collected in memory up to a cap the request sets (a longer
// answer is cut off and its connection dropped). Every request has a whole deadline and can be
// interrupted. Handles are pooled so that connections are reused across requests and threads.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <exception>
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
  /// The most response body bytes taken: a longer answer is abandoned (transport_failure with
  /// `overflow` set) and its connection dropped.
  std::size_t max_body = 1u << 20;
  /// Polled while the request runs (at least once a second): a non-empty answer abandons it
  /// (transport_failure with `interrupted` set to that answer). May be null.
  const std::function<std::string()>* interrupt = nullptr;
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
  std::string interrupted;  ///< the interrupt's answer when it abandoned the request
  bool overflow = false;    ///< the answer was longer than http_request::max_body (or its headers too long)
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
      case CURLE_WRITE_ERROR:
      case CURLE_TOO_MANY_REDIRECTS: return false;
      default: return true;
    }
  }
};

struct http_settings {
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer is abandoned when less than 1 byte per second moved for this long.
  std::chrono::seconds idle_timeout{60};
  /// The whole request (connection, upload, answer) is abandoned after this long; 0: no limit.
  std::chrono::milliseconds request_timeout{600000};
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
/// The most header bytes of one answer taken (S3's are a few KiB).
inline constexpr std::size_t max_header_bytes = 256u << 10;
struct transfer {
  std::span<const std::byte> body;
  std::size_t sent = 0;
  http_response* response = nullptr;
  std::size_t max_body = 0;
  std::size_t header_bytes = 0;
  bool overflow = false;
  const std::function<std::string()>* interrupt = nullptr;
  std::string interrupted;
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
  if (k > t->max_body - t->response->body.size()) {
    t->overflow = true;
    return 0;  // CURLE_WRITE_ERROR: the transfer stops here
  }
  t->response->body.append(data, k);
  return k;
}
inline int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<transfer*>(user);
  if (!t->interrupt || !*t->interrupt) return 0;
  try {
    t->interrupted = (*t->interrupt)();
  } catch (const std::exception& e) {
    t->interrupted = e.what();
  } catch (...) {
    t->interrupted = "interrupted";
  }
  return t->interrupted.empty() ? 0 : 1;  // non-zero: CURLE_ABORTED_BY_CALLBACK
}
inline std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  t->header_bytes += size * n;
  if (t->header_bytes > max_header_bytes) {
    t->overflow = true;
    return 0;
  }
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

  /// Performs one request. A response of any status is returned; no response at all (or one
  /// abandoned: too long, interrupted, past the deadline) gives `failure` and an empty response.
  http_response perform(const http_request& req, transport_failure& failure) const {
    auto h = borrow();
    CURL* c = h.get();
    curl_easy_reset(c);
    http_response resp;
    http_detail::transfer t;
    t.body = req.body;
    t.response = &resp;
    t.max_body = req.max_body;
    t.interrupt = req.interrupt;
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
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &http_detail::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
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
    if (rc != CURLE_OK) {
      failure.code = rc;
      failure.message = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      while (!failure.message.empty() && failure.message.back() == '\n') failure.message.pop_back();
      failure.interrupted = std::move(t.interrupted);
      failure.overflow = t.overflow;
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
