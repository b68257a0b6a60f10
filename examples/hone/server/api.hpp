// The REST API of backup-system.txt as a plain function from request to response, free of any
// socket code (server.cpp carries requests to it). Every response body is JSON; every error is
// {"error": MESSAGE} with its status (see README "REST API").
#pragma once

#include <hone/backup.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// Largest request body accepted (413 above).
inline constexpr std::size_t max_body_bytes = 64 * 1024;

struct api_request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: path, maybe with a query
  std::string body;
  std::string authorization;  ///< the Authorization header, empty when absent
};

struct api_response {
  int status = 200;
  std::string body;  ///< JSON text
  std::vector<std::pair<std::string, std::string>> headers;
  std::string log_note;  ///< appended to the request's log line (never secrets or bodies)
  bool close = false;    ///< close the connection after this response
  bool routine = false;  ///< a scrape, status poll or health check: logged at debug, not info
};

/// Requests that may wait on the offsite bucket at once (of the server's 128 connections); more
/// are answered 503 with Retry-After at once, so that the others keep connections to spare.
inline constexpr int max_bucket_requests = 32;

/// An error response {"error": message}.
api_response error_response(int status, const std::string& message);

class backup_set;
class monitor;

class api {
 public:
  struct config {
    std::filesystem::path database;  ///< the server's database (create exports it, restore replaces it)
    std::filesystem::path backup_dir;
    hb::database_key key;
    std::string token;  ///< HONE_API_TOKEN; empty: no authentication
    /// HONE_METRICS_TOKEN: opens GET /metrics and GET /api/backup/status only (403 elsewhere);
    /// empty: none. Only with `token` set.
    std::string metrics_token;
    /// GET /metrics, GET /api/backup/status and the operations' metrics (monitoring.hpp); may be null.
    monitor* monitoring = nullptr;
    /// The time one request may spend on the bucket (HONE_R2_API_TIMEOUT), from its first
    /// request there; zero: no limit of its own (only a stop of the server ends it).
    std::chrono::milliseconds bucket_limit{0};
  };

  explicit api(config c) : cfg_(std::move(c)) {}

  /// Thread-safe: each request builds its own runner and opens the database per operation, so
  /// nothing is held between requests (a restore is seen by the very next request).
  api_response handle(const api_request& req) const;

 private:
  backup_set backups(bool allow_foreign = false) const;
  api_response create(const std::string& body) const;
  api_response list() const;
  api_response get(const std::string& name) const;
  api_response remove(const std::string& name) const;
  api_response prune(const std::string& body) const;
  api_response verify(const std::string& body) const;
  api_response restore(const std::string& name, const std::string& body) const;
  api_response sync() const;

  config cfg_;
};

/// Decodes %XX escapes of one path segment; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

/// Compares in time that depends only on the lengths, not on where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace hone_app
