// `hone serve`: the REST API and the built-in scheduler (server.cpp) until SIGINT/SIGTERM.
#include "cli/commands/commands.hpp"

#include "server/server.hpp"

namespace hone_app {

int cmd_serve(const serve_args& a) {
  server_options so;
  so.host = a.host;
  so.port = static_cast<unsigned short>(a.port);
  so.database = resolve_database(a.db);
  so.backup_dir = resolve_backup_dir(a.dir);
  return run_server(so);
}

}  // namespace hone_app
