// The one place that turns the configuration into a runner. The CLI, the API and the scheduler
// ask for a backup_set (offsite.hpp: the local runner, plus the bucket's when HONE_R2_* is set)
// here and never name the policies it is made of; a new destination is
// one more alternative of destination_config and one more branch in runner_factory.cpp.
#pragma once

#include "core/any_runner.hpp"
#include "offsite/bucket_listings.hpp"
#include "offsite/offsite.hpp"

#include <hone/backup.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// Backups kept in a folder of this machine (hone::backup::local_directory).
struct local_folder {
  std::filesystem::path path;
};

/// Where the backups are kept: a local folder, or an S3-compatible bucket
/// (hone::backup::s3_destination).
using destination_config = std::variant<local_folder, bucket_settings>;

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

/// The local backup folder `dir`. A folder others may write to (a NAS share), and other users'
/// files in it, are accepted when the database is encrypted (`key` set: the key authenticates
/// every backup, a planted file does not open with it) or HONE_BACKUP_DIR_SHARED=1 (a warning
/// says so, once per process); otherwise such a folder is refused and such files are listed
/// with a problem. Throws usage_error for an invalid HONE_BACKUP_DIR_SHARED.
hb::local_directory backup_folder(const std::filesystem::path& dir, const hb::database_key& key);

/// sqlcipher_exporter + gzip_compressor + the configured destination + system_clock.
/// Temporary copies go to private folders in temp_base(), registered with register_temp_file
/// while they exist; so is restore's temporary file beside the database, so an interrupted
/// command removes them.
any_runner make_runner(const runner_config& config);

/// make_runner with the backups in the local folder `backup_dir`.
any_runner make_runner(const std::filesystem::path& database, const hb::database_key& key,
                       const std::filesystem::path& backup_dir, hb::observer_fn observer = {},
                       hb::check_level check = hb::check_level::full, bool allow_foreign = false);

/// The observer of the runner of one place backups are kept ("local", "r2").
using observer_for = std::function<hb::observer_fn(std::string_view place)>;

/// Told of each upload of a local backup to the bucket (create, sync): whether it succeeded and
/// how long it took. An upload refused because the bucket already has the name is not told.
using upload_observer = std::function<void(bool ok, double seconds)>;

/// The program's backups: make_runner of the local folder `backup_dir` and, when
/// offsite_settings() names a bucket (HONE_R2_*), of the bucket too, with the upload of a
/// local backup to the bucket. Each runner gets the observer `observers` gives for its place.
/// Throws usage_error when HONE_R2_* is partly set.
backup_set make_backups(const std::filesystem::path& database, const hb::database_key& key,
                        const std::filesystem::path& backup_dir, const observer_for& observers,
                        upload_observer uploads = {}, hb::check_level check = hb::check_level::full,
                        bool allow_foreign = false);

/// make_backups whose bucket requests are bounded by `deadline` (may be null: only
/// stop_bucket_requests ends them); once share_bucket_listings() was called, its listings of
/// the bucket are the shared ones.
backup_set make_backups(const std::filesystem::path& database, const hb::database_key& key,
                        const std::filesystem::path& backup_dir, const observer_for& observers, upload_observer uploads,
                        hb::check_level check, bool allow_foreign, std::shared_ptr<bucket_deadline> deadline);

/// make_backups with one observer for both places.
backup_set make_backups(const std::filesystem::path& database, const hb::database_key& key,
                        const std::filesystem::path& backup_dir, hb::observer_fn observer = {},
                        hb::check_level check = hb::check_level::full, bool allow_foreign = false);

}  // namespace hone_app
