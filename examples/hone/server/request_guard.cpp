#include "server/request_guard.hpp"

#include "core/log.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>

namespace hone_app {

namespace {

namespace ip = boost::asio::ip;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// "[v6]" of an IPv6 literal in canonical form; empty when `s` is not one.
std::string bracketed_v6(std::string_view s) {
  boost::system::error_code ec;
  auto a = ip::make_address_v6(std::string(s), ec);
  return ec ? std::string() : "[" + a.to_string() + "]";
}

/// A normalized host (see normalize_host) that is a loopback name or address.
bool is_loopback_host(const std::string& h) {
  if (h == "localhost") return true;
  boost::system::error_code ec;
  if (!h.empty() && h.front() == '[') {
    auto a = ip::make_address_v6(h.substr(1, h.size() - 2), ec);
    return !ec && (a.is_loopback() || (a.is_v4_mapped() && ip::make_address_v4(ip::v4_mapped, a).is_loopback()));
  }
  auto a = ip::make_address_v4(h, ec);
  return !ec && a.is_loopback();
}

bool is_ip_literal(const std::string& h) {
  if (!h.empty() && h.front() == '[') return true;
  boost::system::error_code ec;
  ip::make_address_v4(h, ec);
  return !ec;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

api_response refuse(int status, const std::string& message, const std::string& note) {
  api_response r = error_response(status, message);
  r.log_note = note;
  return r;
}

}  // namespace

std::string normalize_host(std::string_view s, std::string* port) {
  s = trim(s);
  std::string_view rest;
  std::string host;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return {};
    host = bracketed_v6(s.substr(1, close - 1));
    if (host.empty()) return {};
    rest = s.substr(close + 1);
  } else if (std::count(s.begin(), s.end(), ':') > 1) {  // a bare IPv6 literal (allowed-host entries)
    host = bracketed_v6(s);
    if (host.empty()) return {};
  } else {
    const auto colon = s.find(':');
    std::string_view name = s.substr(0, colon);
    if (colon != std::string_view::npos) rest = s.substr(colon);
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return {};
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return {};
    host = lower(name);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() > 6 || !all_digits(rest.substr(1))) return {};
    rest.remove_prefix(1);
  }
  if (port) *port = std::string(rest);
  return host;
}

std::vector<std::string> parse_allowed_hosts(std::string_view list, std::vector<std::string>& bad) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const auto end = list.find_first_of(", \t", pos);
    const auto item = list.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!item.empty()) {
      std::string h = normalize_host(item);
      if (h.empty())
        bad.emplace_back(item);
      else if (!contains(out, h))
        out.push_back(std::move(h));
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return out;
}

bool bearer_token_matches(std::string_view h, std::string_view token) {
  if (token.empty()) return true;
  constexpr std::string_view scheme = "bearer ";
  if (h.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != scheme[i]) return false;
  h.remove_prefix(scheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  return constant_time_equal(h, token);
}

access access_of(std::string_view header, std::string_view token, std::string_view metrics_token) {
  // Both are compared, so the time taken does not tell which one matched.
  const bool full = bearer_token_matches(header, token);
  const bool read_only = !metrics_token.empty() && bearer_token_matches(header, metrics_token);
  return full ? access::full : read_only ? access::read_only : access::none;
}

api_response read_only_token_response() {
  return error_response(403,
                        "Forbidden: HONE_METRICS_TOKEN reads GET /metrics and GET /api/backup/status only; everything "
                        "else needs HONE_API_TOKEN");
}

api_response unauthorized_response() {
  api_response r = error_response(401, "Unauthorized: a valid 'Authorization: Bearer <token>' header is required");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hone\"");
  return r;
}

api_response body_too_large_response() {
  return error_response(413, "Request body too large (limit " + std::to_string(max_body_bytes / 1024) + " KiB)");
}

request_guard::request_guard(config c) : cfg_(std::move(c)) {}

bool request_guard::host_allowed(std::string_view host_header) const {
  const std::string h = normalize_host(host_header);
  if (h.empty()) return false;
  return is_loopback_host(h) || contains(cfg_.allowed_hosts, h) || contains(cfg_.proxy_hosts, h) ||
         (cfg_.any_address && is_ip_literal(h));
}

std::optional<api_response> request_guard::check(const request_head& r) const {
  // Host: a web page that rebinds its own name to 127.0.0.1 still sends that name.
  std::string host, host_port;
  if (r.host.size() > 1) return refuse(400, "More than one Host header", "");
  if (r.host.empty()) {
    if (r.version >= 11) return refuse(400, "Missing Host header (required by HTTP/1.1)", "");
  } else {
    host = normalize_host(r.host.front(), &host_port);
    if (host.empty()) return refuse(400, "Malformed Host header", "");
    if (!host_allowed(r.host.front()))
      return refuse(421,
                    "Host '" + printable(r.host.front(), 100) +
                        "' is not served here: only loopback names and addresses, the --host address and the names "
                        "in HONE_ALLOWED_HOSTS are (a request naming another host may come from a DNS-rebinding web "
                        "page)",
                    "refused Host " + printable(r.host.front(), 100));
  }

  // Origin: browsers send it with every cross-origin request that is not a plain GET; only the
  // server's own origin (or a configured proxy name) may drive the API.
  if (!r.origin.empty()) {
    const std::string shown = printable(r.origin.front(), 100);
    auto cross_origin = [&] {
      return refuse(403, "Cross-origin request refused (Origin: " + shown + "): the API serves only its own origin",
                    "refused Origin " + shown);
    };
    if (r.origin.size() > 1) return cross_origin();
    const std::string o = lower(trim(r.origin.front()));
    std::string_view authority = o;
    if (authority.starts_with("http://"))
      authority.remove_prefix(7);
    else if (authority.starts_with("https://"))
      authority.remove_prefix(8);
    else
      return cross_origin();  // "null" (sandboxed frames, file: pages, redirects) and other schemes
    std::string origin_port;
    const std::string origin_host =
        authority.find('/') == std::string_view::npos ? normalize_host(authority, &origin_port) : std::string();
    const bool same = !host.empty() && origin_host == host && origin_port == host_port;
    if (origin_host.empty() || !(same || contains(cfg_.proxy_hosts, origin_host))) return cross_origin();
  }

  const access granted = access_of(r.authorization, cfg_.token, cfg_.metrics_token);
  if (granted == access::none) return unauthorized_response();
  // The read-only token never sends a body: refused before one is read.
  if (granted == access::read_only && r.method != "GET" && r.method != "HEAD") return read_only_token_response();

  // A body must be JSON. A page can send text/plain or a form cross-site without a preflight;
  // a Content-Type is never needed on a request without a body, so only JSON is accepted there
  // too.
  if (r.method != "GET" && r.method != "HEAD" && (r.has_body || !r.content_type.empty())) {
    bool json = r.content_type.size() == 1;
    if (json) {
      std::string_view v = r.content_type.front();
      v = trim(v.substr(0, v.find(';')));
      json = iequals(v, "application/json");
    }
    if (!json) {
      std::string shown = r.content_type.empty() ? std::string("none") : printable(r.content_type.front(), 100);
      return refuse(415, "Unsupported Content-Type (" + shown + "): request bodies must be sent as application/json",
                    "");
    }
  }
  if (r.content_length && *r.content_length > max_body_bytes) return body_too_large_response();
  return std::nullopt;
}

}  // namespace hone_app
