// `hone serve`: the REST API over HTTP/1.1 (Boost.Beast: asynchronous connections on one thread,
// each read and write bounded by the stream's own timer; the API's handlers on a pool of
// workers) and the built-in backup scheduler, until SIGINT/SIGTERM.
#pragma once

#include <filesystem>
#include <string>

namespace hone_app {

struct server_options {
  std::string host = "127.0.0.1";
  unsigned short port = 3000;  ///< 0: any free port (the startup line tells which)
  std::filesystem::path database;
  std::filesystem::path backup_dir;
};

/// Runs until SIGINT/SIGTERM (graceful: running requests and a running scheduled backup
/// finish, idle connections are closed, and every worker is joined before it returns; a second signal exits at once).
/// Returns the exit code. Throws usage_error when a non-loopback address is requested without HONE_API_TOKEN.
int run_server(const server_options& opts);

}  // namespace hone_app
