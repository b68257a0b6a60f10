// The S3 protocol under s3_destination: path-style URLs, signed requests (SigV4, the payload's
// SHA-256 signed), retries with exponential backoff and jitter, and errors that say which
// operation, bucket, key, HTTP status and S3 code failed. The secret access key is used only
// to sign; it is never part of a URL, a header other than the signature, or a message.
#pragma once

#include <hone/backup/detail/s3/http.hpp>
#include <hone/backup/detail/s3/sigv4.hpp>
#include <hone/backup/detail/s3/xml.hpp>
#include <hone/backup/error.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hone::backup::detail::s3 {

struct client_settings {
  std::string endpoint;  ///< scheme://host[:port][/base path]
  std::string bucket;
  std::string region = "auto";
  std::string access_key_id;
  std::string secret_access_key;
  int max_attempts = 6;  ///< tries per request, the first included
  std::chrono::milliseconds retry_base_delay{250};
  std::chrono::milliseconds retry_max_delay{20000};
  http_settings http;
  std::function<void(std::string_view)> log;  ///< told of every retry (may be empty)
  /// Polled during every request and every wait between retries: a non-empty answer abandons
  /// the request (no retry) and send() throws remote_error with that reason. May be empty.
  std::function<std::string()> interrupt;
};

/// One S3 request as the destination describes it.
struct call {
  std::string_view operation;  ///< "PutObject", "ListObjectsV2", ... for messages
  std::string method = "GET";
  std::string key;  ///< the object key (prefix included); empty for a bucket request
  name_values query;
  name_values headers;  ///< besides host, x-amz-date, x-amz-content-sha256, authorization
  std::span<const std::byte> body;
  /// The longest answer body taken; a longer one is abandoned (no retry) with an error.
  std::size_t max_body = 1u << 20;
};

struct reply {
  long status = 0;
  name_values headers;
  std::string body;
  std::string code;     ///< S3's error code (<Code>), or "" for a success
  std::string message;  ///< S3's error message (<Message>)
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
  /// A 2xx answer that is not an S3 error document (S3 may answer 200 with an <Error> body).
  bool ok() const noexcept { return status / 100 == 2 && code.empty(); }
};

/// "YYYYMMDDTHHMMSSZ" of a system time.
inline std::string amz_date(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

/// Parses "2024-01-31T12:34:56.000Z" (ListObjectsV2) or "Wed, 31 Jan 2024 12:34:56 GMT" (HTTP);
/// the epoch for anything else (a year outside 1970-2200 too).
inline std::chrono::system_clock::time_point parse_time(std::string_view s) {
  std::tm tm{};
  const std::string str(s);
  const char* end = ::strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) end = ::strptime(str.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (!end) return {};
  if (tm.tm_year < 70 || tm.tm_year > 300) return {};  // 1970 to 2200 (system_clock counts ns up to 2262)
  const std::time_t t = ::timegm(&tm);
  if (t < 0) return {};
  return std::chrono::system_clock::from_time_t(t);
}

class client {
 public:
  explicit client(client_settings s) : s_(std::move(s)), http_(s_.http) {
    while (!s_.endpoint.empty() && s_.endpoint.back() == '/') s_.endpoint.pop_back();
    const auto scheme = s_.endpoint.find("://");
    if (scheme == std::string::npos ||
        (s_.endpoint.substr(0, scheme) != "http" && s_.endpoint.substr(0, scheme) != "https"))
      throw invalid_argument_error("S3 endpoint must start with https:// or http://, got \"" + s_.endpoint + "\"");
    const auto slash = s_.endpoint.find('/', scheme + 3);
    authority_ = s_.endpoint.substr(scheme + 3, slash == std::string::npos ? std::string::npos : slash - scheme - 3);
    base_path_ = slash == std::string::npos ? "" : s_.endpoint.substr(slash);
    origin_ = s_.endpoint.substr(0, scheme + 3) + authority_;
    if (authority_.empty()) throw invalid_argument_error("S3 endpoint has no host: \"" + s_.endpoint + "\"");
    if (s_.bucket.empty() || s_.bucket.find('/') != std::string::npos)
      throw invalid_argument_error("S3 bucket name is empty or holds a '/': \"" + s_.bucket + "\"");
    if (s_.access_key_id.empty() || s_.secret_access_key.empty())
      throw invalid_argument_error("S3 access key id and secret access key must both be set");
    if (s_.max_attempts < 1) s_.max_attempts = 1;
  }

  const client_settings& settings() const noexcept { return s_; }

  /// The URI-encoded path of a key: /base/bucket/key.
  std::string path(std::string_view key) const {
    std::string p = base_path_ + "/" + uri_encode(s_.bucket, false);
    if (!key.empty()) p += "/" + uri_encode(key, true);
    return p;
  }
  /// Where a person finds an object: the path-style URL.
  std::string url(std::string_view key) const { return origin_ + path(key); }
  /// "bucket/key" for messages.
  std::string describe(std::string_view key) const {
    return key.empty() ? "bucket " + s_.bucket : s_.bucket + "/" + std::string(key);
  }

  /// Sends a request, again after a retryable failure (5xx, 408, 429, SlowDown,
  /// RequestTimeout, no response) with backoff; returns the last reply, whatever its status.
  /// Throws remote_error when no response came after every attempt, when the answer was longer
  /// than the call's max_body, and when the interrupt answered (at once, no retry).
  reply send(const call& c) const {
    const std::string payload_hash = sha256_hex(c.body);
    for (int attempt = 1;; ++attempt) {
      check_interrupt(c);
      transport_failure tf;
      http_request req = build(c, payload_hash);
      req.max_body = c.max_body;
      req.interrupt = s_.interrupt ? &s_.interrupt : nullptr;
      http_response hr = http_.perform(req, tf);
      std::string why;
      reply r;
      if (tf.code != CURLE_OK) {
        if (!tf.interrupted.empty()) throw interrupted(c, tf.interrupted);
        if (tf.overflow)
          throw remote_error(scrub(where(c) + " failed: the endpoint " + s_.endpoint +
                                   " does not answer as S3 does: its answer is longer than expected (cut off after " +
                                   std::to_string(c.max_body) + " bytes of body or " +
                                   std::to_string(http_detail::max_header_bytes >> 10) +
                                   " KiB of headers, the connection dropped)"));
        why = "no response (" + scrub(tf.message) + ")";
        if (tf.code == CURLE_OPERATION_TIMEDOUT && s_.http.request_timeout.count() > 0)
          why += "; a request may last " + std::to_string(s_.http.request_timeout.count()) + " ms";
        if (!tf.retryable() || attempt >= s_.max_attempts)
          throw remote_error(where(c) + " failed: " + why +
                             (attempt > 1 ? " after " + std::to_string(attempt) + " attempts" : "") +
                             transport_hint(tf.code));
      } else {
        r.status = hr.status;
        r.headers = std::move(hr.headers);
        r.body = std::move(hr.body);
        if (!r.ok() || is_error_document(r.body)) {
          r.code = xml_text(r.body, "Code");
          r.message = xml_text(r.body, "Message");
          if (r.code.empty() && r.ok() && is_error_document(r.body)) r.code = "Error";  // no <Code>: still an error
        }
        if (!retryable(r) || attempt >= s_.max_attempts) return r;
        why = "HTTP " + std::to_string(r.status) + (r.code.empty() ? "" : " " + r.code);
      }
      const auto delay = backoff(attempt, tf.code == CURLE_OK ? r.header("retry-after") : std::string());
      if (s_.log)
        s_.log("S3 " + std::string(c.operation) + " of " + describe(c.key) + ": " + why + "; retrying in " +
               std::to_string(delay.count()) + " ms (attempt " + std::to_string(attempt + 1) + " of " +
               std::to_string(s_.max_attempts) + ")");
      wait(c, delay);
    }
  }

  /// "S3 OPERATION of BUCKET/KEY at ENDPOINT" for messages.
  std::string where(const call& c) const {
    return "S3 " + std::string(c.operation) + " of " + describe(c.key) + " at " + s_.endpoint;
  }

  /// The error for an answer that is not S3's: what came (status, content type, a short
  /// sanitized start of the body) and what it probably means.
  remote_error not_s3(const call& c, const reply& r, std::string_view what) const {
    std::string m = where(c) + " failed: the endpoint " + s_.endpoint + " does not answer as S3 does (" +
                    std::string(what) + "; HTTP " + std::to_string(r.status);
    const std::string type = r.header("content-type");
    if (!type.empty()) m += ", " + sanitized(type, 60);
    if (r.body.empty())
      m += ", an empty body";
    else
      m += ", body starting \"" + sanitized(r.body, 80) + "\"";
    m += "). Check the endpoint: it must be the S3 API's address, without the bucket name";
    return remote_error(scrub(m));
  }

  /// Printable ASCII only, at most `n` characters (an ellipsis when cut).
  static std::string sanitized(std::string_view s, std::size_t n) {
    std::string out;
    for (char ch : s) {
      if (out.size() >= n) {
        out += "...";
        break;
      }
      const auto u = static_cast<unsigned char>(ch);
      out += ch == '"' ? '\'' : u >= 0x20 && u < 0x7f ? ch : (ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : '?');
    }
    return out;
  }

  /// Whether the body is an S3 error document (<Error> its root element).
  static bool is_error_document(std::string_view body) { return s3::root_element(body) == "Error"; }

  /// Throws not_s3() unless the (successful) answer is a document whose root is `root`.
  void expect_document(const call& c, const reply& r, std::string_view root) const {
    const std::string got = s3::root_element(r.body);
    if (got == root) return;
    throw not_s3(c, r,
                 got.empty()
                     ? "not an XML document where " + std::string(root) + " was expected"
                     : "a <" + sanitized(got, 40) + "> document where <" + std::string(root) + "> was expected");
  }

  /// Throws remote_error with the interrupt's reason when it answers.
  void check_interrupt(const call& c) const {
    if (!s_.interrupt) return;
    std::string why = s_.interrupt();
    if (!why.empty()) throw interrupted(c, why);
  }

  /// The error for a reply that is a failure: operation, bucket/key, status, S3 code and
  /// message, and what it probably means.
  remote_error failure(const call& c, const reply& r, std::string_view context = {}) const {
    // A failure answer with a body other than S3's error document (an HTML page) is not S3's.
    if (c.method != "HEAD" && !r.body.empty() && !is_error_document(r.body))
      return not_s3(c, r, "no S3 error document in a failure answer");
    std::string m = "S3 " + std::string(c.operation) + " of " + describe(c.key) + " at " + s_.endpoint +
                    " failed: HTTP " + std::to_string(r.status);
    if (!r.code.empty()) m += " " + r.code;
    if (!r.message.empty()) m += " (" + r.message + ")";
    if (!context.empty()) m += ": " + std::string(context);
    const std::string hint = explain(r);
    if (!hint.empty()) m += ". " + hint;
    return remote_error(scrub(m));
  }

 private:
  static bool retryable(const reply& r) {
    // 501 Not Implemented (Swift's answer to If-None-Match) says the same every time.
    if (r.status == 501 || r.code == "NotImplemented") return false;
    if (r.status >= 500 || r.status == 408 || r.status == 429) return true;
    return r.code == "SlowDown" || r.code == "RequestTimeout" || r.code == "InternalError" ||
           r.code == "ServiceUnavailable";
  }

  remote_error interrupted(const call& c, const std::string& why) const {
    return remote_error(scrub(where(c) + " abandoned: " + why));
  }

  /// Sleeps `d`, in short steps between which the interrupt is asked.
  void wait(const call& c, std::chrono::milliseconds d) const {
    const auto until = std::chrono::steady_clock::now() + d;
    for (;;) {
      check_interrupt(c);
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) return;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(100)));
    }
  }

  /// What a transport failure probably means.
  std::string transport_hint(CURLcode code) const {
    switch (code) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return ". The endpoint's host name " + authority_ + " is unknown: check the endpoint";
      case CURLE_COULDNT_CONNECT:
        return ". Nothing answers at " + authority_ + ": check the endpoint (and that the server runs)";
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT: return ". Check the endpoint";
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        return ". The server's TLS certificate does not verify: check the endpoint and the CA file";
      default: return {};
    }
  }

  std::chrono::milliseconds backoff(int attempt, const std::string& retry_after) const {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const double cap = static_cast<double>(s_.retry_max_delay.count());
    double d = std::min(
        cap, static_cast<double>(s_.retry_base_delay.count()) * static_cast<double>(1ull << std::min(attempt - 1, 20)));
    d = std::uniform_real_distribution<double>(d / 2, d)(rng);  // jitter: spreads the retries of many clients
    // Retry-After in seconds, bounded by retry_max_delay (a date or anything else is ignored).
    std::uint64_t seconds = 0;
    const char* b = retry_after.data();
    const char* e = b + retry_after.size();
    if (const auto [p, ec] = std::from_chars(b, e, seconds); !retry_after.empty() && p == e)
      d = std::max(d, ec == std::errc() ? std::min(cap, 1000.0 * static_cast<double>(seconds)) : cap);
    return std::chrono::milliseconds(static_cast<long long>(d));
  }

  std::string explain(const reply& r) const {
    if (r.code == "SignatureDoesNotMatch")
      return "The secret access key does not match the access key id " + s_.access_key_id +
             " (or the request was altered on its way)";
    if (r.code == "InvalidAccessKeyId") return "The server does not know the access key id " + s_.access_key_id;
    if (r.code == "NoSuchBucket") return "The bucket " + s_.bucket + " does not exist at " + s_.endpoint;
    if (r.code == "RequestTimeTooSkewed") {
      std::string m =
          "This machine's clock and the server's differ by more than 15 minutes, so signed requests are refused";
      const auto server = parse_time(r.header("date"));
      if (server != std::chrono::system_clock::time_point{}) {
        const auto skew =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - server).count();
        m += " (this clock is " + std::to_string(skew < 0 ? -skew : skew) + " s " + (skew < 0 ? "behind" : "ahead") +
             ")";
      }
      return m + "; set the system clock (e.g. enable NTP)";
    }
    if (r.code == "AuthorizationHeaderMalformed" || r.code == "InvalidRegion")
      return "Check the region (\"" + s_.region + "\"; R2 uses \"auto\")";
    if (r.status == 403 && r.code.empty())
      return "The server refused the request (a HEAD response carries no error code): check the access key id, the "
             "secret access key and that the token may read and write objects of the bucket";
    if (r.code == "AccessDenied" || r.status == 403)
      return "The credentials are not allowed to do this; the token needs read and write access to objects of the "
             "bucket";
    return {};
  }

  /// The secret never leaves this object, even when a server echoes it.
  std::string scrub(std::string m) const {
    const std::string& secret = s_.secret_access_key;
    if (secret.size() >= 4)
      for (auto at = m.find(secret); at != std::string::npos; at = m.find(secret, at))
        m.replace(at, secret.size(), "<secret>");
    return m;
  }

  http_request build(const call& c, const std::string& payload_hash) const {
    signing_input in;
    in.method = c.method;
    in.path = path(c.key);
    in.query = c.query;
    in.payload_hash = payload_hash;
    const std::string date = amz_date(std::chrono::system_clock::now());
    in.headers = c.headers;
    in.headers.emplace_back("host", authority_);
    in.headers.emplace_back("x-amz-date", date);
    in.headers.emplace_back("x-amz-content-sha256", payload_hash);
    const signature sig = sign(in, s_.access_key_id, s_.secret_access_key, s_.region, "s3", date);
    http_request req;
    req.method = c.method;
    req.url = origin_ + in.path;
    const std::string q = canonical_query_string(c.query);
    if (!q.empty()) req.url += "?" + q;
    req.headers = std::move(in.headers);
    req.headers.emplace_back("authorization", sig.authorization);
    req.body = c.body;
    return req;
  }

  client_settings s_;
  http_client http_;
  std::string authority_, base_path_, origin_;
};

}  // namespace hone::backup::detail::s3
