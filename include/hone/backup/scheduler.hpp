// backup_scheduler: every interval, create a timestamped backup and prune to a retention
// policy. Time and waiting go through the runner's Clock, so tests drive it with fake_clock and
// never sleep.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/names.hpp>
#include <hone/backup/retention.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>

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

/// What one scheduled cycle (create, then prune) came to; given to the on_cycle callback.
struct cycle_outcome {
  time_point started{};   ///< when the cycle began (the runner's clock)
  time_point finished{};  ///< when it ended
  bool success = false;   ///< the backup was created and the prune succeeded
  /// When !success: the step that failed, "create" or "prune"; empty otherwise.
  std::string failed_operation;
  std::string message;      ///< when !success: the error's message
  std::string backup_name;  ///< the backup made (also when only the prune failed); else empty
  std::uint64_t backup_size = 0;
  std::size_t pruned_count = 0;  ///< backups the prune deleted
  std::size_t kept_count = 0;    ///< backups the prune kept
};

/// Receives the outcome of every scheduled cycle (on the scheduler's thread).
using cycle_fn = std::function<void(const cycle_outcome&)>;
/// Receives the time the next cycle is due, each time run() starts waiting for one.
using next_run_fn = std::function<void(time_point)>;

/// A scheduler configuration as a program reads it (from its environment, a file, flags).
/// Three outcomes: enabled; disabled (no interval configured, not an error); misconfigured
/// (`error` is set: a value was refused, and the program should not start).
struct schedule_config {
  bool enabled = false;
  std::chrono::nanoseconds interval{0};
  long long retention = 7;  ///< keep-last as configured; policy.last
  /// The whole retention policy: keep-last and the calendar rules.
  keep_calendar policy{.last = 7};
  std::string error;   ///< non-empty when misconfigured: names each setting, its value and the rule
  std::string reason;  ///< a one-line description for the log: enabled, disabled or misconfigured

  bool misconfigured() const noexcept { return !error.empty(); }
};

/// Runs scheduled backups with a BackupRunner until stopped. `Runner` is a BackupRunner or
/// anything with the same create(), list(), prune(const keep_calendar&) and clock() (whose
/// result has now() and wait_until(time_point, std::stop_token)), such as a type-erased runner.
template <class Runner>
class backup_scheduler {
 public:
  backup_scheduler(Runner& runner, std::chrono::nanoseconds interval, keep_calendar policy, log_fn log = {})
      : runner_(runner), interval_(interval), retention_(policy), log_(std::move(log)) {
    if (interval_ <= std::chrono::nanoseconds::zero())
      throw invalid_argument_error("The backup interval must be positive");
    retention_.validate();
  }
  /// Keeps the `retention` newest backups.
  backup_scheduler(Runner& runner, std::chrono::nanoseconds interval, long long retention, log_fn log = {})
      : backup_scheduler(runner, interval, keep_calendar{.last = retention}, std::move(log)) {
    if (retention < 1) throw invalid_argument_error("The retention must be at least 1");
  }

  /// When the next backup is due: one interval after the newest backup, or after start-up when
  /// there is none, or after the last attempt (a failure is retried one interval later). A time
  /// in the future (the clock was moved back, a backup was copied in with a future name or
  /// modification time) counts as now, so it never postpones the next backup; the first time a
  /// backup dated in the future is seen, a warning names it. A newest backup older than one
  /// interval (the server was down) makes a backup due at once.
  time_point next_due() {
    const time_point now = runner_.clock().now();
    time_point base = started_;
    if (auto newest = newest_backup()) {
      base = newest->created_at;
      if (base > now && warned_future_.insert(newest->name).second)
        log(log_level::warning, "backup " + newest->name + " is dated in the future (" + iso8601(base) +
                                    "); counting the next backup from now");
    }
    if (last_attempt_) base = std::max(base, *last_attempt_);
    base = std::min(base, now);
    return base + std::chrono::duration_cast<time_point::duration>(interval_);
  }

  /// Called with the outcome of every cycle, after it is logged. Set it before run(); an
  /// exception it throws is logged and otherwise ignored.
  void on_cycle(cycle_fn f) { on_cycle_ = std::move(f); }
  /// Called with the due time each time run() starts waiting for the next cycle (after the
  /// "next scheduled backup at" line). Set it before run(); exceptions are logged and ignored.
  void on_next_run(next_run_fn f) { on_next_run_ = std::move(f); }

  /// When the next cycle is due while run() waits for it; nullopt before run() starts, while a
  /// cycle runs and after run() has returned. Safe to call from any thread.
  std::optional<time_point> next_run() const {
    std::lock_guard lk(next_m_);
    return next_run_;
  }

  /// The retention policy the scheduler prunes with.
  const keep_calendar& policy() const noexcept { return retention_; }
  /// The interval between backups.
  std::chrono::nanoseconds interval() const noexcept { return interval_; }

  /// Loops until stop is requested: wait, back up, prune.
  void run(std::stop_token stop) {
    started_ = runner_.clock().now();
    while (!stop.stop_requested()) {
      const time_point due = next_due();
      log(log_level::debug, "next scheduled backup at " + iso8601(due));
      set_next_run(due);
      if (on_next_run_) notify([&] { on_next_run_(due); });
      const bool woke = runner_.clock().wait_until(due, stop);
      set_next_run(std::nullopt);
      if (!woke) break;
      run_once();
    }
  }

  /// One scheduled cycle (create, then prune). Errors are logged, never thrown; the outcome
  /// goes to the on_cycle callback.
  bool run_once() {
    cycle_outcome out;
    out.started = runner_.clock().now();
    last_attempt_ = out.started;
    ++attempts_;
    const auto t0 = std::chrono::steady_clock::now();
    const char* step = "create";
    try {
      auto info = runner_.create();
      out.backup_name = info.name;
      out.backup_size = info.size;
      log(log_level::info, "scheduled backup created: " + info.name + " (" + std::to_string(info.size) + " bytes) in " +
                               seconds_since(t0));
      step = "prune";
      const auto t1 = std::chrono::steady_clock::now();
      auto pruned = runner_.prune(retention_);
      out.pruned_count = pruned.deleted_count;
      out.kept_count = pruned.retained_count;
      log(log_level::info, "scheduled prune: deleted " + std::to_string(pruned.deleted_count) + ", kept " +
                               std::to_string(pruned.retained_count) + ", freed " + std::to_string(pruned.bytes_freed) +
                               " bytes in " + seconds_since(t1));
      ++successes_;
      out.success = true;
    } catch (const std::exception& e) {
      log(log_level::error, std::string("scheduled ") + (out.backup_name.empty() ? "backup" : "prune") +
                                " failed: " + e.what() + " (retrying at the next interval)");
      out.failed_operation = step;
      out.message = e.what();
    }
    out.finished = runner_.clock().now();
    if (on_cycle_) notify([&] { on_cycle_(out); });
    return out.success;
  }

  /// Cycles started and cycles that succeeded; safe to read from any thread while run() runs.
  int attempts() const noexcept { return attempts_.load(); }
  int successes() const noexcept { return successes_.load(); }

 private:
  struct dated_backup {
    std::string name;
    time_point created_at;
  };

  /// The newest backup that could be read (files with a `problem` do not count).
  std::optional<dated_backup> newest_backup() {
    try {
      for (auto& b : runner_.list())
        if (b.problem.empty()) return dated_backup{b.name, b.created_at};
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

  void log(log_level l, const std::string& m) {
    if (log_) log_(l, m);
  }

  void set_next_run(std::optional<time_point> t) {
    std::lock_guard lk(next_m_);
    next_run_ = t;
  }

  /// Runs a callback of the program; what it throws is logged, never passed on.
  template <class F>
  void notify(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      log(log_level::error, std::string("scheduler callback failed: ") + e.what());
    }
  }

  Runner& runner_;
  std::chrono::nanoseconds interval_;
  keep_calendar retention_;
  log_fn log_;
  time_point started_{};
  std::optional<time_point> last_attempt_;
  std::set<std::string> warned_future_;  ///< backups already reported as dated in the future
  std::atomic<int> attempts_{0};
  std::atomic<int> successes_{0};
  cycle_fn on_cycle_;
  next_run_fn on_next_run_;
  mutable std::mutex next_m_;
  std::optional<time_point> next_run_;  ///< guarded by next_m_
};

}  // namespace hone::backup
