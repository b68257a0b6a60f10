// The one place that turns the configuration into a runner. The CLI, the API and the scheduler
// ask for a backup_set (offsite.hpp: the local runner, plus the bucket's when HONE_R2_* is set)
// here and never name the policies it is made of; a new destination is
// one more alternative of destination_config and one more branch in runner_factory.cpp.
#pragma once

#include "core/any_runner.hpp"
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

/// sqlcipher_exporter + gzip_compressor + the configured destination + system_clock.
/// Temporary copies go to private folders in temp_base(), registered with register_temp_file
/// while they exist; so is restore's temporary file beside the database, so an interrupted
/// command removes them.
any_runner make_runner(const runner_config& config);

/// make_runner with the backups in the local folder `backup_dir`.
any_runner make_runner(const std::filesystem::path& database, const hb::database_key& key,
                       const std::filesystem::path& backup_dir, hb::observer_fn observer = {},
                       hb::check_level check = hb::check_level::full, bool allow_foreign = false);

/// The time limit of the bucket's part of one operation of `hone serve` (a scheduled cycle, an
/// API request): the clock starts at the operation's first request to the bucket, and once the
/// limit has passed every request to the bucket, and every wait for a listing, is abandoned
/// (s3_options::interrupt) with a message naming the setting. Each operation has its own, so
/// that the limit of one never abandons another. Thread-safe: the destination asks it from its
/// own threads too.
class bucket_deadline {
 public:
  /// `setting` names where the limit comes from in messages ("HONE_R2_CYCLE_TIMEOUT").
  bucket_deadline(std::chrono::milliseconds limit, std::string setting) : limit_(limit), setting_(std::move(setting)) {}
  /// Unarmed again: the next request to the bucket starts the clock (the next scheduled cycle).
  void restart() noexcept { due_ = 0; }
  /// Empty within the limit (the first call starts the clock); else why the bucket's part of
  /// the operation is abandoned.
  std::string check();
  /// True once the limit has passed (does not start the clock).
  bool expired() const noexcept;

 private:
  const std::chrono::milliseconds limit_;
  const std::string setting_;
  std::atomic<std::int64_t> due_{0};  ///< steady_clock nanoseconds; 0: unarmed
};

/// Abandons every request to the bucket made by this process from now on, within about a
/// second (s3_options::interrupt), and every wait for a shared listing, with `reason`. For
/// `hone serve` at SIGTERM; cannot be undone.
void stop_bucket_requests(const std::string& reason);
/// The reason given to stop_bucket_requests, or empty.
std::string bucket_stop_reason();

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

/// `hone serve` lists the bucket one listing at a time: a caller of the shared listing (the
/// bucket runner of make_backups with a deadline) joins the listing in progress, unless the
/// bucket was changed through this process since it began, and waits for its result within its
/// own deadline. Each listing runs on a thread of its own, limited to `limit`, with the runner
/// of these arguments (the observer is the bucket's). Called once, before any request.
void share_bucket_listings(const std::filesystem::path& database, const hb::database_key& key,
                           const std::filesystem::path& backup_dir, hb::observer_fn observer,
                           std::chrono::milliseconds limit);
/// Waits for the shared listing in progress to end (stop_bucket_requests first makes it end at
/// once) and releases its connections. The server's last step.
void end_shared_bucket_listings();

/// The newest completed shared listing of the bucket (for status).
struct bucket_listing {
  bool shared = false;     ///< false: share_bucket_listings() was not called
  bool completed = false;  ///< false: no listing has completed yet
  std::vector<hb::backup_info> backups;
  std::string error;                   ///< why the listing failed, when it did
  std::vector<std::string> conflicts;  ///< names the bucket holds with other bytes than the local folder
  std::string conflicts_error;         ///< why they could not be compared, when they could not
  hb::time_point finished_at{};        ///< when it completed
  bool in_progress = false;            ///< a newer listing is under way
};
/// The newest completed shared listing, after waiting up to `wait` for a fresh one (started
/// when none is in progress and the last completed more than `fresh_for` ago, or before the
/// bucket was changed).
bucket_listing latest_bucket_listing(std::chrono::milliseconds wait, std::chrono::milliseconds fresh_for);

/// make_backups with one observer for both places.
backup_set make_backups(const std::filesystem::path& database, const hb::database_key& key,
                        const std::filesystem::path& backup_dir, hb::observer_fn observer = {},
                        hb::check_level check = hb::check_level::full, bool allow_foreign = false);

}  // namespace hone_app
