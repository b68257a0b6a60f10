// The checks `hone serve` makes on a request as soon as its header is read, before any of its
// body: the Host (DNS rebinding), the Origin (cross-site requests from web pages), the bearer
// token, the Content-Type of a body and its announced length. A refused request is answered
// and its connection closed without reading the body. See README "Security of the API".
#pragma once

#include "server/api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

/// What the checks need of a request's header (every field as often as it was sent).
struct request_head {
  std::string method;  ///< as sent ("POST", "HEAD", ...)
  unsigned version = 11;
  std::vector<std::string> host;
  std::vector<std::string> origin;
  std::vector<std::string> content_type;
  std::string authorization;                    ///< empty when absent
  bool has_body = false;                        ///< a Content-Length above 0, or a chunked body
  std::optional<std::uint64_t> content_length;  ///< when announced
};

class request_guard {
 public:
  struct config {
    /// Host names and addresses served besides the loopback ones, normalized (normalize_host):
    /// the --host value and the bound address.
    std::vector<std::string> allowed_hosts;
    /// The names of HONE_ALLOWED_HOSTS (a reverse proxy's): served, and accepted as the host of
    /// an Origin on any port and scheme (the proxy may rewrite the Host header).
    std::vector<std::string> proxy_hosts;
    /// Listening on every address (0.0.0.0 or ::): any IP literal names this server.
    bool any_address = false;
    std::string token;          ///< HONE_API_TOKEN; empty: no authentication
    std::string metrics_token;  ///< HONE_METRICS_TOKEN: GET and HEAD only; empty: none
  };

  explicit request_guard(config c);

  /// nullopt when the request may go on (its body may be read); otherwise the response to send
  /// before closing the connection.
  std::optional<api_response> check(const request_head& h) const;

  /// True when a Host header value (name or address, maybe with a port) is served here.
  bool host_allowed(std::string_view host_header) const;

  const config& settings() const { return cfg_; }

 private:
  config cfg_;
};

/// The host part of a Host header or of an allowed-host entry, normalized for comparison:
/// lower-case, no port, no trailing dot, IPv6 literals in brackets in their canonical form.
/// Empty when malformed.
std::string normalize_host(std::string_view host_and_port, std::string* port = nullptr);

/// The names of HONE_ALLOWED_HOSTS (comma- or space-separated), normalized; malformed entries
/// are returned in `bad`.
std::vector<std::string> parse_allowed_hosts(std::string_view list, std::vector<std::string>& bad);

/// True when `header` is "Bearer TOKEN" (scheme case-insensitive, spaces around the token
/// ignored) for this token, compared in constant time; always true for an empty token.
bool bearer_token_matches(std::string_view header, std::string_view token);

/// What a request's Authorization header opens: everything with HONE_API_TOKEN (or when no
/// token is configured); with HONE_METRICS_TOKEN, GET /metrics and GET /api/backup/status only.
enum class access { none, read_only, full };
access access_of(std::string_view header, std::string_view token, std::string_view metrics_token);

/// The 403 response to HONE_METRICS_TOKEN for anything but reading the metrics and the status.
api_response read_only_token_response();

/// The 401 response (with its WWW-Authenticate header).
api_response unauthorized_response();

/// The 413 response for a body over max_body_bytes.
api_response body_too_large_response();

}  // namespace hone_app
