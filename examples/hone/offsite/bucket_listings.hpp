// The bucket's part of an operation of `hone serve`: its time limit (bucket_deadline,
// HONE_R2_CYCLE_TIMEOUT and HONE_R2_API_TIMEOUT), the stop of every request at SIGTERM, and the
// listings of the bucket shared by the API, the status and the scheduler (one at a time).
// core/runner_factory.cpp gives the bucket's runners these limits and listings.
#pragma once

#include <hone/backup.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

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

/// stop_bucket_requests' reason, else `deadline`'s answer (null: none): what the bucket's
/// requests (s3_options::interrupt) and the waits for a listing ask.
std::string bucket_interruption(bucket_deadline* deadline);

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

/// Whether the listings are shared (share_bucket_listings, until end_shared_bucket_listings).
bool bucket_listings_shared();
/// A shared listing that began after the last change of the bucket made through this process:
/// the one in progress, or a new one; waited for until `interrupt` answers (with its reason).
std::vector<hb::backup_info> fresh_bucket_listing(const std::function<std::string()>& interrupt);
/// The bucket was changed through this process: listings that began before do not show it.
void bucket_changed();

}  // namespace hone_app
