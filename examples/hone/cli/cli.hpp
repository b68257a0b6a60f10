// The command line of the `hone` program (CLI11): every command, option and help text, and
// the messages of a command line that does not parse.
#pragma once

#include "cli/commands/commands.hpp"

#include <optional>

namespace hone_app {

enum class command {
  backup_create,
  backup_list,
  backup_show,
  backup_verify,
  backup_restore,
  backup_delete,
  backup_prune,
  backup_sync,
  backup_status,
  dashboard,
  demo_db,
  db_migrate,
  serve,
};

/// What the command line asks for: the command and its options.
struct command_line {
  command cmd = command::backup_list;
  bool verbose = false;   ///< -v, --verbose
  std::string log_level;  ///< --log-level; empty when not given
  backup_args backup;
  dashboard_args dashboard;
  demo_db_args demo_db;
  migrate_args migrate;
  serve_args serve;
};

/// Parses the command line into `out`. Returns the exit code when the program ends here, with
/// everything already printed: help and --version (0), or a command line that does not parse
/// (2, "error: ... (see 'hone backup create --help')"; unexpected values are never echoed, one
/// may be a passphrase typed in the wrong place). nullopt: run out.cmd.
std::optional<int> parse_command_line(int argc, char** argv, command_line& out);

}  // namespace hone_app
