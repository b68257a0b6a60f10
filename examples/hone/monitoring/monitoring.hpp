// Monitoring of `hone serve` (README "Monitoring"): the metrics of every operation, the state
// of the built-in scheduler (kept in memory and in the backup folder's .hone-status.json for
// `hone backup status`), the failure hook, and the two endpoints GET /metrics and
// GET /api/backup/status. One monitor is shared, thread-safe, by the API and the scheduler.
#pragma once

#include "core/json_output.hpp"
#include "monitoring/failure_hook.hpp"
#include "monitoring/metrics.hpp"
#include "server/api.hpp"

#include <hone/backup.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hone_app {

/// How long GET /api/backup/status waits for a fresh listing of the bucket before it reports the
/// last completed one (marked stale), and how long a completed listing counts as fresh.
inline constexpr std::chrono::milliseconds status_listing_wait{300};
inline constexpr std::chrono::milliseconds status_listing_fresh_for{5000};

class monitor {
 public:
  /// `hook`: HONE_BACKUP_ON_FAILURE as hook_from_environment() read it (nullopt: none). Reads
  /// the last scheduled run and failure a previous server recorded in the backup folder.
  monitor(std::filesystem::path backup_dir, std::optional<hook_config> hook);
  /// Records that the server stopped (no next run) and waits for running failure commands.
  ~monitor();
  monitor(const monitor&) = delete;
  monitor& operator=(const monitor&) = delete;

  /// An observer for the runner of `location` ("local", "r2"): counts and times each operation,
  /// then passes the events on.
  hb::observer_fn observer(hb::observer_fn next = {}, std::string location = "local");
  /// An operation the API refused for its request before the runner started it (a name that
  /// exists already): counted as refused, not as a failure.
  void refused(hb::event::operation op, std::string_view location = "local") { metrics_.record_refused(op, location); }
  /// What counts the uploads to the offsite bucket (make_backups' upload_observer).
  std::function<void(bool ok, double seconds)> upload_counter();
  /// An offsite copy is configured (its place is `location`): its series and the upload
  /// metrics are reported from the start.
  void offsite_configured(std::string_view location) {
    metrics_.add_location(location);
    metrics_.count_uploads();
  }

  /// The server listens: from now on its state is recorded in the backup folder (a server that
  /// fails to start never overwrites the state of one that is running).
  void started();
  /// The scheduler's configuration (enabled or not, interval, policy).
  void scheduler_configured(const hb::schedule_config& cfg);
  /// on_next_run of the scheduler.
  void next_run(hb::time_point due);
  /// on_cycle of the scheduler: records the run; a failure also goes to failed().
  void cycle(const hb::cycle_outcome& o);
  /// A failed scheduled operation ("create", "prune", "upload"): recorded as the last failure
  /// and given to the failure hook (when configured).
  void failed(const std::string& operation, const std::string& message);
  /// A verify's outcome (the API's): the backup folder's last verify.
  void verified(const hb::verify_result& v);

  /// GET /metrics and GET /api/backup/status (the caller has authenticated the request);
  /// nullopt for any other path.
  std::optional<api_response> handle(const api_request& req) const;

  /// The status document (status_report.hpp) as this server sees it.
  json status(std::optional<std::chrono::seconds> max_age) const;
  /// The /metrics text.
  std::string metrics_text() const;

 private:
  json scheduler_json_locked() const;
  json state_json_locked() const;
  void save_locked();

  std::filesystem::path dir_;
  metrics_registry metrics_;
  std::unique_ptr<failure_hook> hook_;
  mutable std::mutex m_;
  bool running_ = true;
  bool started_ = false;  ///< started() was called: the state file may be written
  bool scheduler_enabled_ = false;
  std::chrono::nanoseconds interval_{0};
  hb::keep_calendar policy_{};
  std::optional<hb::time_point> next_run_;
  json last_run_;      ///< null or {started_at, finished_at, outcome, failed_operation, error, backup}
  json last_failure_;  ///< null or {operation, message, at}
  std::string last_save_error_;
  mutable std::string last_list_error_;  ///< guarded by m_: logged once, not at every scrape
};

}  // namespace hone_app
