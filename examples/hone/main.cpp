// hone: encrypted, compressed, consistent backups of the Hone database from the command line,
// over a REST API (`hone serve`) and on a schedule (HONE_BACKUP_SCHEDULE). See README.md,
// sections "The `hone` program" onwards. Everything else is in folders by concern: the command
// line in cli/ (each command in cli/commands/), the REST server in server/, the offsite copy in
// offsite/, status, metrics and the failure hook in monitoring/, what is read from the
// environment in config/, and the database, the log and the runner (core/runner_factory.cpp)
// in core/.
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "core/app.hpp"
#include "core/log.hpp"
#include "offsite/offsite.hpp"

#include <hone/backup.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

using namespace hone_app;

namespace {

int run(const command_line& c) {
  // HONE_R2_* is read (and its secret dropped from the environment) before any other thread
  // may look at the environment; a partial configuration stops every command that uses backups.
  if (c.cmd != command::dashboard && c.cmd != command::demo_db && c.cmd != command::db_migrate) offsite_settings();
  switch (c.cmd) {
    case command::backup_create: return cmd_create(c.backup);
    case command::backup_list: return cmd_list(c.backup);
    case command::backup_show: return cmd_show(c.backup);
    case command::backup_verify: return cmd_verify(c.backup);
    case command::backup_restore: return cmd_restore(c.backup);
    case command::backup_delete: return cmd_delete(c.backup);
    case command::backup_prune: return cmd_prune(c.backup);
    case command::backup_sync: return cmd_sync(c.backup);
    case command::backup_status: return cmd_status(c.backup);
    case command::dashboard: return cmd_dashboard(c.dashboard);
    case command::demo_db: return cmd_demo_db(c.demo_db);
    case command::db_migrate: return cmd_migrate(c.migrate);
    case command::serve: return cmd_serve(c.serve);
  }
  return exit_usage;
}

/// A result that could not be written (disk full, closed pipe) is an error.
int finish(int rc) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "error: cannot write the output: %s\n", std::strerror(errno));
    return rc == exit_ok ? static_cast<int>(exit_failure) : rc;
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  command_line c;
  if (auto rc = parse_command_line(argc, argv, c)) return *rc;
  if (const std::string bad = configure_logging(c.log_level, c.verbose); !bad.empty()) {
    std::fprintf(stderr, "error: %s\n", bad.c_str());
    return exit_usage;
  }
  // One-shot commands clean up their temporary files when interrupted; `serve` shuts down
  // gracefully on its own.
  std::optional<interrupt_cleanup> cleanup;
  if (c.cmd != command::serve) cleanup.emplace();
  try {
    const int rc = run(c);
    return c.cmd == command::serve ? rc : finish(rc);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return exit_usage;
  } catch (const hb::error& e) {
    std::fprintf(stderr, "error: %s\n", program_message(e).c_str());
    if (stderr_is_terminal())
      if (auto hint = hint_for(e); !hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
    return exit_code_for(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return exit_failure;
  }
}
