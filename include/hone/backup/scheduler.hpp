// The built-in scheduler: every N hours (HONE_BACKUP_SCHEDULE) create a timestamped backup
// and prune to the retention (HONE_BACKUP_RETENTION). Time and waiting go through the
// runner's Clock, so tests drive it with fake_clock and never sleep.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <functional>
#include <optional>
#include <ostream>
#include <stop_token>
#include <string>

namespace hone::backup {

enum class log_level { debug, info, warning, error };

inline std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warning: return "WARN";
    case log_level::error: return "ERROR";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& os, log_level l) { return os << to_string(l); }

/// Receives the scheduler's log lines.
using log_fn = std::function<void(log_level, const std::string&)>;

/// The scheduler's settings as read from the environment.
struct schedule_config {
  bool enabled = false;
  std::chrono::nanoseconds interval{0};
  long long retention = 7;
  std::string reason;  ///< why it is disabled, or a description of the schedule
};

/// Reads HONE_BACKUP_SCHEDULE (hours, fractions allowed) and HONE_BACKUP_RETENTION (default 7).
/// Unset, 0, negative or unparsable schedule: disabled, with the reason.
inline schedule_config parse_schedule(const char* schedule, const char* retention) {
  schedule_config c;
  if (retention && *retention) {
    char* end = nullptr;
    errno = 0;
    long long r = std::strtoll(retention, &end, 10);
    if (errno != 0 || end == retention || *end != '\0' || r < 1) {
      c.reason = std::string("backup scheduler disabled: HONE_BACKUP_RETENTION='") + retention +
                 "' is not a whole number of at least 1";
      return c;
    }
    c.retention = r;
  }
  if (!schedule || !*schedule) {
    c.reason = "backup scheduler disabled: HONE_BACKUP_SCHEDULE is not set";
    return c;
  }
  char* end = nullptr;
  errno = 0;
  double hours = std::strtod(schedule, &end);
  if (errno != 0 || end == schedule || *end != '\0' || !std::isfinite(hours)) {
    c.reason =
        std::string("backup scheduler disabled: HONE_BACKUP_SCHEDULE='") + schedule + "' is not a number of hours";
    return c;
  }
  if (hours <= 0) {
    c.reason = std::string("backup scheduler disabled: HONE_BACKUP_SCHEDULE='") + schedule + "' is not positive";
    return c;
  }
  if (hours > 24.0 * 365 * 100) {
    c.reason = std::string("backup scheduler disabled: HONE_BACKUP_SCHEDULE='") + schedule + "' is too large";
    return c;
  }
  c.enabled = true;
  c.interval = std::chrono::nanoseconds(static_cast<long long>(hours * 3600.0 * 1e9));
  c.reason = "backup scheduler enabled: every " + std::string(schedule) + " h, keeping " + std::to_string(c.retention) +
             " backups";
  return c;
}

/// Runs scheduled backups with a BackupRunner until stopped.
template <class Runner>
class backup_scheduler {
 public:
  backup_scheduler(Runner& runner, std::chrono::nanoseconds interval, long long retention, log_fn log = {})
      : runner_(runner), interval_(interval), retention_(retention), log_(std::move(log)) {
    if (interval_ <= std::chrono::nanoseconds::zero())
      throw invalid_argument_error("The backup interval must be positive");
    if (retention_ < 1) throw invalid_argument_error("The retention must be at least 1");
  }

  /// When the next backup is due: one interval after the newest backup, or after start-up when
  /// there is none, or after the last attempt (a failure is retried one interval later).
  time_point next_due() {
    time_point base = started_;
    if (auto newest = newest_backup()) base = *newest;
    if (last_attempt_) base = std::max(base, *last_attempt_);
    return base + std::chrono::duration_cast<time_point::duration>(interval_);
  }

  /// Loops until stop is requested: wait, back up, prune.
  void run(std::stop_token stop) {
    started_ = runner_.clock().now();
    while (!stop.stop_requested()) {
      const time_point due = next_due();
      log(log_level::debug, "next scheduled backup at " + format(due));
      if (!runner_.clock().wait_until(due, stop)) break;
      run_once();
    }
  }

  /// One scheduled cycle (create, then prune). Errors are logged, never thrown.
  bool run_once() {
    last_attempt_ = runner_.clock().now();
    ++attempts_;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto info = runner_.create();
      log(log_level::info, "scheduled backup created: " + info.name + " (" + std::to_string(info.size) + " bytes) in " +
                               seconds_since(t0));
      const auto t1 = std::chrono::steady_clock::now();
      auto pruned = runner_.prune(retention_);
      log(log_level::info, "scheduled prune: deleted " + std::to_string(pruned.deleted_count) + ", kept " +
                               std::to_string(pruned.retained_count) + ", freed " + std::to_string(pruned.bytes_freed) +
                               " bytes in " + seconds_since(t1));
      ++successes_;
      return true;
    } catch (const std::exception& e) {
      log(log_level::error, std::string("scheduled backup failed: ") + e.what() + " (retrying at the next interval)");
      return false;
    }
  }

  int attempts() const noexcept { return attempts_; }
  int successes() const noexcept { return successes_; }

 private:
  std::optional<time_point> newest_backup() {
    try {
      auto all = runner_.list();
      if (!all.empty()) return all.front().created_at;
    } catch (const std::exception& e) {
      log(log_level::warning, std::string("cannot list backups: ") + e.what());
    }
    return std::nullopt;
  }

  static std::string seconds_since(std::chrono::steady_clock::time_point t0) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ms) / 1000.0);
    return buf;
  }

  static std::string format(time_point t) {
    auto s = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
    std::time_t tt = static_cast<std::time_t>(s);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

  void log(log_level l, const std::string& m) {
    if (log_) log_(l, m);
  }

  Runner& runner_;
  std::chrono::nanoseconds interval_;
  long long retention_;
  log_fn log_;
  time_point started_{};
  std::optional<time_point> last_attempt_;
  int attempts_ = 0;
  int successes_ = 0;
};

}  // namespace hone::backup
