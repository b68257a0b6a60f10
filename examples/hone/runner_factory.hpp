// The one place that turns the configuration into a runner. The CLI, the API and the scheduler
// ask for an any_runner here and never name the policies it is made of; a new destination is
// one more alternative of destination_config and one more branch in runner_factory.cpp.
#pragma once

#include "any_runner.hpp"

#include <hone/backup.hpp>

#include <filesystem>
#include <variant>

namespace hone_app {

namespace hb = hone::backup;

/// Backups kept in a folder of this machine (hone::backup::local_directory).
struct local_folder {
  std::filesystem::path path;
};

/// Where the backups are kept.
using destination_config = std::variant<local_folder>;

/// Everything a runner is made of.
struct runner_config {
  std::filesystem::path database;  ///< the live database (empty for commands that only read backups)
  hb::database_key key;
  destination_config destination;
  hb::observer_fn observer;
  /// What verify and restore examine (full: PRAGMA integrity_check).
  hb::check_level check = hb::check_level::full;
  /// Unless set, verify and restore refuse a backup that holds none of Hone's tables
  /// (accounts, transactions, subscriptions): it is not a backup of a Hone database.
  bool allow_foreign = false;
};

/// sqlcipher_exporter + gzip_compressor + the configured destination + system_clock.
/// Temporary copies go to private folders in temp_base(), registered with register_temp_file
/// while they exist; so is restore's temporary file beside the database, so an interrupted
/// command removes them.
any_runner make_runner(const runner_config& config);

/// make_runner with the backups in the local folder `backup_dir`.
any_runner make_runner(const std::filesystem::path& database, const hb::database_key& key,
                       const std::filesystem::path& backup_dir, hb::observer_fn observer = {},
                       hb::check_level check = hb::check_level::full, bool allow_foreign = false);

}  // namespace hone_app
