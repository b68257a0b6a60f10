// The commands of the `hone` program, one file each (cli/commands/NAME.cpp; `backup status` in
// status_command.cpp), and what they share.
// Each takes the options the command line gave it (cli.hpp fills them in), prints its result
// and returns an exit code (app.hpp); failures are thrown and reported by main().
#pragma once

#include "config/config.hpp"
#include "core/app.hpp"
#include "core/hone_database.hpp"
#include "core/json_output.hpp"

#include <hone/backup.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hone_app {

/// Options shared by the `backup` subcommands.
struct backup_args {
  std::string dir;
  std::string db;
  std::string name;
  bool name_given = false;  ///< --name was on the command line (an empty one is an error)
  bool json = false;
  bool pin = false;  ///< create --pin
  bool force = false;
  bool yes = false;
  long long keep = default_keep_last;
  bool keep_given = false;  ///< --keep was on the command line
  long long keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0, keep_yearly = 0;
  bool dry_run = false;
  hb::check_level check = hb::check_level::full;
  bool allow_foreign = false;
  std::string format;                  ///< create: "gzip" or "compact" (empty: HONE_BACKUP_FORMAT, else gzip)
  std::string from;                    ///< verify, restore: "local" or "r2" (empty: the local copy, else the bucket's)
  std::optional<std::string> max_age;  ///< backup status --max-age
};

struct dashboard_args {
  std::string db;
  bool json = false;
};

struct demo_db_args {
  std::string db;
  demo_spec spec;
};

struct migrate_args {
  std::string db;
};

struct serve_args {
  std::string host = "127.0.0.1";
  int port = 3000;
  std::string db;
  std::string dir;
};

int cmd_run(const backup_args& a);            // backup run: one scheduled cycle (run.cpp)
int cmd_create(const backup_args& a);         // backup create
int cmd_list(const backup_args& a);           // backup list
int cmd_show(const backup_args& a);           // backup show
int cmd_verify(const backup_args& a);         // backup verify
int cmd_restore(const backup_args& a);        // backup restore
int cmd_delete(const backup_args& a);         // backup delete
int cmd_prune(const backup_args& a);          // backup prune
int cmd_sync(const backup_args& a);           // backup sync
int cmd_status(const backup_args& a);         // backup status (status_command.cpp)
int cmd_pin(const backup_args& a, bool pin);  // backup pin, backup unpin (pin.cpp)
int cmd_dashboard(const dashboard_args& a);
int cmd_demo_db(const demo_db_args& a);
int cmd_migrate(const migrate_args& a);  // db migrate
int cmd_serve(const serve_args& a);      // serve: the REST API and the scheduler (server.hpp)

// ---- shared by the commands (common.cpp) ---------------------------------------------------

/// Prints the JSON document on stdout (the REST API's text).
void print_json(const json& j);

/// Ends a command that failed after its result was made: "error: MESSAGE" on stderr and, with
/// --json, `doc` (the result) printed with "error": {"code", "message"} added, so that stdout
/// holds one JSON object. Returns the exit code of `code` (app.hpp exit_code_for).
int failed_with(const backup_args& a, json doc, std::string_view code, const std::string& message);

std::string yes_no(bool b);

/// A count, or "- (no TABLE table)" when its table does not exist.
std::string count_text(const std::optional<std::int64_t>& c, const char* table);

/// The path, size and creation time lines of create and show.
void print_backup_details(const hb::backup_info& b);

/// "local, r2": where a backup is.
std::string places_text(const std::vector<std::string>& locations);

}  // namespace hone_app
