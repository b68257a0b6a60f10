// hone: encrypted, compressed, consistent backups of the Hone database from the command line,
// over a REST API (`hone serve`) and on a schedule (HONE_BACKUP_SCHEDULE). See README.md,
// sections "The `hone` program" onwards. Everything else is in folders by concern: the command
// line in cli/ (each command in cli/commands/), the REST server in server/, the offsite copy in
// offsite/, status, metrics and the failure hook in monitoring/, what is read from the
// environment in config/, and the database, the log and the runner (core/runner_factory.cpp)
// in core/.
#include "cli/cli.hpp"
#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "core/app.hpp"
#include "core/log.hpp"
#include "offsite/offsite.hpp"

#include <hone/backup.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

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
    case command::backup_run: return cmd_run(c.backup);
    case command::backup_pin: return cmd_pin(c.backup, true);
    case command::backup_unpin: return cmd_pin(c.backup, false);
    case command::dashboard: return cmd_dashboard(c.dashboard);
    case command::demo_db: return cmd_demo_db(c.demo_db);
    case command::db_migrate: return cmd_migrate(c.migrate);
    case command::serve: return cmd_serve(c.serve);
  }
  return exit_usage;
}

/// Whether the command's output is JSON (--json): its failures are a JSON object on stdout too.
bool json_output(const command_line& c) { return c.cmd == command::dashboard ? c.dashboard.json : c.backup.json; }

/// Reports a failure that ends the program: "error: MESSAGE" on stderr (and `hint` on a
/// terminal) and, with --json, {"error": {"code", "message"}} on stdout. Returns its exit code.
int failed(const command_line& c, std::string_view code, const std::string& message, const std::string& hint = {}) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  if (!hint.empty() && stderr_is_terminal()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
  if (json_output(c)) print_json(cli_error_json(code, message));
  return exit_code_for(code);
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
  // --quiet: errors and warnings only (unless a level is asked for); JSON asked for is still printed.
  const std::string level = c.quiet && c.log_level.empty() && !c.verbose ? std::string("warn") : c.log_level;
  if (const std::string bad = configure_logging(level, c.verbose); !bad.empty()) {
    std::fprintf(stderr, "error: %s\n", bad.c_str());
    return exit_usage;
  }
  set_quiet(c.quiet);
  if (c.quiet && !json_output(c) && !std::freopen("/dev/null", "w", stdout)) return exit_failure;
  // One-shot commands clean up their temporary files when interrupted; `serve` shuts down
  // gracefully on its own.
  std::optional<interrupt_cleanup> cleanup;
  if (c.cmd != command::serve) cleanup.emplace();
  try {
    const int rc = run(c);
    return c.cmd == command::serve ? rc : finish(rc);
  } catch (const usage_error& e) {
    return finish(failed(c, "usage", e.what()));
  } catch (const hb::error& e) {
    return finish(failed(c, error_code(e), program_message(e), hint_for(e)));
  } catch (const std::exception& e) {
    return finish(failed(c, "failed", e.what()));
  }
}
