// One scheduled cycle's work, shared by the built-in scheduler of `hone serve` and by
// `hone backup run`: create (uploading the new backup and syncing what the bucket lacks), then
// prune in both places, each failure recorded by the monitor (status file, failure hook).
#pragma once

#include "core/any_runner.hpp"
#include "monitoring/monitoring.hpp"
#include "offsite/bucket_listings.hpp"
#include "offsite/offsite.hpp"

#include <hone/backup.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

namespace hone_app {

/// What the scheduler runs: scheduled_backups, the bucket's time limit (HONE_R2_CYCLE_TIMEOUT)
/// restarted at each cycle, so that it bounds the upload, sync and bucket prune of one cycle.
class scheduled_cycle {
 public:
  scheduled_cycle(scheduled_backups& runs, bucket_deadline& deadline, std::atomic<bool>& deadline_reported)
      : runs_(runs), deadline_(deadline), deadline_reported_(deadline_reported) {}
  hb::backup_info create() {
    deadline_.restart();
    deadline_reported_ = false;
    return runs_.create();
  }
  std::vector<hb::backup_info> list() { return runs_.list(); }
  hb::prune_result prune(const hb::keep_calendar& policy) { return runs_.prune(policy); }
  any_runner::clock_ref clock() { return runs_.clock(); }

 private:
  scheduled_backups& runs_;
  bucket_deadline& deadline_;
  std::atomic<bool>& deadline_reported_;
};

/// The scheduler of one backup folder (the folder's lock serializes it with API and CLI
/// backups). The bucket's failures do not fail a cycle (the local backup is what the schedule
/// guarantees), but each is counted and given to the monitor (status, hook): once per cycle for
/// its time limit (the steps after it fail at once for the same reason), never for a bucket call
/// abandoned because the server is stopping.
class scheduled_job {
 public:
  /// `cfg` must be enabled (its interval positive).
  scheduled_job(const hb::schedule_config& cfg, const std::filesystem::path& database, const hb::database_key& key,
                const std::filesystem::path& backup_dir, monitor& monitoring, std::chrono::seconds bucket_limit);
  scheduled_job(const scheduled_job&) = delete;
  scheduled_job& operator=(const scheduled_job&) = delete;

  hb::backup_scheduler<scheduled_cycle>& scheduler() { return *scheduler_; }
  /// Failures of the bucket (upload, sync, prune) so far.
  int bucket_failures() const noexcept { return bucket_failures_.load(); }

 private:
  std::shared_ptr<bucket_deadline> deadline_;
  std::atomic<bool> deadline_reported_{false};
  std::atomic<int> bucket_failures_{0};
  std::unique_ptr<backup_set> backups_;
  std::unique_ptr<scheduled_backups> runner_;
  std::unique_ptr<scheduled_cycle> cycle_;
  std::unique_ptr<hb::backup_scheduler<scheduled_cycle>> scheduler_;
};

}  // namespace hone_app
