// The built-in scheduler: every N hours (HONE_BACKUP_SCHEDULE) create a timestamped backup
// and prune to the retention (HONE_BACKUP_RETENTION). Time and waiting go through the
// runner's Clock, so tests drive it with fake_clock and never sleep.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/retention.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>

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

/// The scheduler's settings as read from the environment. Three outcomes: enabled; disabled
/// because HONE_BACKUP_SCHEDULE is not set (not an error); misconfigured (`error` is set: a
/// variable holds a value that is refused, and the program should not start).
struct schedule_config {
  bool enabled = false;
  std::chrono::nanoseconds interval{0};
  long long retention = 7;  ///< HONE_BACKUP_RETENTION (keep-last); policy.last
  /// The whole retention policy: keep-last from HONE_BACKUP_RETENTION, the calendar rules from
  /// HONE_BACKUP_KEEP_HOURLY/DAILY/WEEKLY/MONTHLY/YEARLY.
  keep_calendar policy{.last = 7};
  std::string error;   ///< non-empty when misconfigured: names each variable, its value and the rule
  std::string reason;  ///< a one-line description for the log: enabled, disabled or misconfigured

  bool misconfigured() const noexcept { return !error.empty(); }
};

/// The shortest and longest intervals parse_schedule accepts.
inline constexpr std::chrono::nanoseconds min_schedule_interval = std::chrono::minutes(1);
inline constexpr std::chrono::nanoseconds max_schedule_interval = std::chrono::hours(24 * 365 * 100);

namespace detail {

/// A value from the environment as it may appear in a message: quoted, printable ASCII only
/// (anything else as \xNN), cut after 40 characters.
inline std::string quoted_env_value(std::string_view v) {
  std::string out = "'";
  std::size_t shown = 0;
  for (char ch : v) {
    if (shown++ == 40) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(ch);
    if (u >= 0x20 && u < 0x7f && ch != '\'' && ch != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    }
  }
  return out + "'";
}

inline bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// Plain decimal: digits, optionally a '.' followed by digits ("24", "0.5"; not "24.", ".5",
/// "+1", "1e3", "0x10", "inf", " 24").
inline bool is_plain_decimal(std::string_view s) noexcept {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return all_digits(s);
  return all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

}  // namespace detail

/// Reads HONE_BACKUP_SCHEDULE and HONE_BACKUP_RETENTION (pass getenv's results; null or empty
/// means unset).
///
/// HONE_BACKUP_SCHEDULE: the interval in hours as a plain decimal number ("24", "0.5", "168"),
/// from one minute to 100 years. Unset or empty: the scheduler is disabled, which is not an
/// error. HONE_BACKUP_RETENTION: how many backups to keep, a whole number of at least 1 in
/// plain digits; unset or empty: 7. Any other value of either variable (hex, exponents, signs,
/// spaces, units, an interval under a minute...) makes the configuration misconfigured, with
/// `error` saying which variable, the value and the rule, whether or not the schedule is set.
///
/// The calendar rules (see keep_calendar and docs/Retention.md) come from `keep` in the order
/// hourly, daily, weekly, monthly, yearly (HONE_BACKUP_KEEP_HOURLY ... _YEARLY), each a whole
/// number of at least 1 when set. When any is set, keep-last applies only if
/// HONE_BACKUP_RETENTION is set too; otherwise keep-last is HONE_BACKUP_RETENTION (default 7).
inline schedule_config parse_schedule(const char* schedule, const char* retention,
                                      std::array<const char*, 5> keep = {}) {
  schedule_config c;
  std::string errors;
  auto refuse = [&](const std::string& message) { errors += (errors.empty() ? "" : "; ") + message; };

  if (schedule && *schedule) {
    const std::string_view s = schedule;
    const char* why = nullptr;
    std::chrono::nanoseconds interval{0};
    double hours = 0;
    const auto parsed = detail::is_plain_decimal(s)
                            ? std::from_chars(s.data(), s.data() + s.size(), hours, std::chars_format::fixed).ec
                            : std::errc::invalid_argument;
    const bool whole_hours = s.substr(0, s.find('.')).find_first_not_of('0') != std::string_view::npos;
    if (parsed == std::errc::result_out_of_range) {
      why = whole_hours ? "over 100 years" : "under one minute";
    } else if (parsed != std::errc{} || !std::isfinite(hours)) {
      why = "not a plain decimal number";
    } else if (hours * 3600.0 > std::chrono::duration<double>(max_schedule_interval).count()) {
      why = "over 100 years";
    } else {
      interval = std::chrono::nanoseconds(std::llround(hours * 3600.0 * 1e9));
      if (interval < min_schedule_interval) why = "under one minute";
    }
    if (why) {
      refuse("HONE_BACKUP_SCHEDULE=" + detail::quoted_env_value(s) + " is not valid (" + why +
             "): give the interval in hours as a plain decimal number of at least 0.0167 (one minute) and at most "
             "876000 (100 years), e.g. 24 for daily or 0.5 for every 30 minutes");
    } else {
      c.interval = interval;
    }
  }

  if (retention && *retention) {
    const std::string_view r = retention;
    long long n = 0;
    if (!detail::all_digits(r) || std::from_chars(r.data(), r.data() + r.size(), n).ec != std::errc{} || n < 1) {
      refuse("HONE_BACKUP_RETENTION=" + detail::quoted_env_value(r) +
             " is not valid: give the number of backups to keep as a whole number of at least 1 in plain digits, "
             "e.g. 7");
    } else {
      c.retention = n;
    }
  }
  static constexpr const char* keep_names[] = {"HONE_BACKUP_KEEP_HOURLY", "HONE_BACKUP_KEEP_DAILY",
                                               "HONE_BACKUP_KEEP_WEEKLY", "HONE_BACKUP_KEEP_MONTHLY",
                                               "HONE_BACKUP_KEEP_YEARLY"};
  long long* rules[] = {&c.policy.hourly, &c.policy.daily, &c.policy.weekly, &c.policy.monthly, &c.policy.yearly};
  bool calendar = false;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i] || !*keep[i]) continue;
    const std::string_view v = keep[i];
    long long n = 0;
    if (!detail::all_digits(v) || std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc{} || n < 1) {
      refuse(std::string(keep_names[i]) + "=" + detail::quoted_env_value(v) +
             " is not valid: give a whole number of at least 1 in plain digits, e.g. 7");
    } else {
      *rules[i] = n;
      calendar = true;
    }
  }
  c.policy.last = calendar && !(retention && *retention) ? 0 : c.retention;

  if (!errors.empty()) {
    c.error = std::move(errors);
    c.interval = std::chrono::nanoseconds{0};
    c.reason = "backup scheduler misconfigured: " + c.error;
  } else if (!schedule || !*schedule) {
    c.reason = "backup scheduler disabled: HONE_BACKUP_SCHEDULE is not set";
  } else {
    c.enabled = true;
    c.reason = "backup scheduler enabled: every " + std::string(schedule) + " h, " +
               (calendar ? c.policy.describe() : "keeping " + std::to_string(c.retention) + " backups");
  }
  return c;
}

/// Runs scheduled backups with a BackupRunner until stopped.
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
        log(log_level::warning, "backup " + newest->name + " is dated in the future (" + format(base) +
                                    "); counting the next backup from now");
    }
    if (last_attempt_) base = std::max(base, *last_attempt_);
    base = std::min(base, now);
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
  keep_calendar retention_;
  log_fn log_;
  time_point started_{};
  std::optional<time_point> last_attempt_;
  std::set<std::string> warned_future_;  ///< backups already reported as dated in the future
  int attempts_ = 0;
  int successes_ = 0;
};

}  // namespace hone::backup
