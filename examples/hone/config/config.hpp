// The program's configuration read from its environment: the built-in scheduler's
// HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION and HONE_BACKUP_KEEP_* (README "Built-in
// scheduler"). The library's schedule_config holds the result; reading and checking the
// variables, and every message naming them, is the program's.
#pragma once

#include <hone/backup.hpp>  // schedule_config (scheduler.hpp)

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hone_app {

/// How many backups keep-last keeps when neither a count (--keep, "keep",
/// HONE_BACKUP_RETENTION) nor a calendar rule is given.
inline constexpr long long default_keep_last = 7;

/// keep-last of a retention policy whose calendar rules are `rules`: `keep` when given; else
/// default_keep_last when no calendar rule is set, 0 (off) when one is. The one rule behind
/// `hone backup prune`, POST /api/backup/prune and the built-in scheduler.
long long keep_last_or_default(const hone::backup::keep_calendar& rules, std::optional<long long> keep);

/// The shortest and longest intervals parse_schedule accepts.
inline constexpr std::chrono::nanoseconds min_schedule_interval = std::chrono::minutes(1);
inline constexpr std::chrono::nanoseconds max_schedule_interval = std::chrono::hours(24 * 365 * 100);

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
hone::backup::schedule_config parse_schedule(const char* schedule, const char* retention,
                                             std::array<const char*, 5> keep = {});

/// parse_schedule of the process's environment.
hone::backup::schedule_config schedule_from_environment();

/// How long the bucket's part of one operation of `hone serve` may take (README "Offsite copy"),
/// from its first request to the bucket.
struct bucket_time_limits {
  /// HONE_R2_CYCLE_TIMEOUT: the upload, sync and bucket prune of one scheduled cycle.
  std::chrono::seconds cycle{30 * 60};
  /// HONE_R2_API_TIMEOUT: what one API request does in the bucket (list, upload, download...).
  std::chrono::seconds api{10 * 60};
  std::string error;  ///< set when a variable is not valid (then the defaults are kept)
};

/// The longest limit bucket_time_limits accepts (one day).
inline constexpr std::chrono::seconds max_bucket_time_limit = std::chrono::hours(24);

/// Reads HONE_R2_CYCLE_TIMEOUT and HONE_R2_API_TIMEOUT (getenv's results; null or empty means
/// the default): whole seconds in plain digits, from 1 to 86400. `error` names the variable, the
/// value and the rule otherwise.
bucket_time_limits parse_bucket_time_limits(const char* cycle, const char* api);

/// parse_bucket_time_limits of the process's environment.
bucket_time_limits bucket_time_limits_from_environment();

/// HONE_BACKUP_DIR_SHARED: "1" accepts a backup folder owned by another user or writable by
/// others (a NAS share), and other users' files in it, with an unencrypted database (with an
/// encrypted one they are accepted anyway: the key authenticates every backup). Unset, empty or
/// "0": false; any other value throws usage_error naming it.
bool backup_dir_shared_from_environment();

/// A value from the environment as it may appear in a message: quoted, printable ASCII only
/// (anything else as \xNN), cut after 40 characters.
std::string quoted_env_value(std::string_view v);

}  // namespace hone_app
