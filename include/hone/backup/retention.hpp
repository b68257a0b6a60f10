// Retention policies: which backups prune keeps. keep_last{n} keeps the n newest;
// keep_calendar keeps the newest backup of each of the last N hours, days, ISO weeks, months
// and years, with restic's `forget` semantics (see docs/Retention.md).
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hone::backup {

/// For each backup given (newest first), the rules that keep it ("last", "daily", ...), in the
/// order given; an empty list means the backup is deleted.
using keep_reasons = std::vector<std::vector<std::string>>;

/// A retention policy: given the creation times of the backups, newest first, says which to
/// keep and why. See docs/Retention.md.
template <class P>
concept Retention = requires(const P& p, std::span<const time_point> newest_first) {
  { p.apply(newest_first) } -> std::same_as<keep_reasons>;
  { p.describe() } -> std::convertible_to<std::string>;
};

namespace detail {
/// The calendar buckets of restic's `forget`, in UTC. Two backups fall in the same bucket of a
/// rule when these values are equal.
struct utc_fields {
  std::int64_t year, month, day, hour, iso_year, iso_week;
};
inline utc_fields utc_of(time_point t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day ymd{days};
  const hh_mm_ss hms{secs - days};
  // ISO 8601 week: the week (Monday first) that holds the Thursday of this week.
  const weekday wd{days};
  const auto thursday = days - (wd - Monday) + std::chrono::days{3};
  const year iso_year = year_month_day{thursday}.year();
  const auto first_thursday_week = sys_days{iso_year / January / 1};
  const auto iso_week = (thursday - first_thursday_week).count() / 7 + 1;
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
          hms.hours().count(),          static_cast<int>(iso_year),         iso_week};
}
}  // namespace detail

/// Keeps every backup of the last `hourly` hours that have one (the newest of each hour), of
/// the last `daily` days, `weekly` ISO weeks, `monthly` months and `yearly` years, plus the
/// `last` newest backups. 0 turns a rule off; at least one rule must be on.
struct keep_calendar {
  long long last = 0;
  long long hourly = 0;
  long long daily = 0;
  long long weekly = 0;
  long long monthly = 0;
  long long yearly = 0;

  /// restic's ApplyPolicy: walking from the newest backup to the oldest, a rule with count left
  /// keeps a backup whose bucket differs from the last one it kept, or the oldest backup of all,
  /// and counts down. Rules are independent; a backup kept by any rule is kept. A backup whose
  /// time is unknown (time_point{}) is kept by no rule here: callers keep it and say so.
  keep_reasons apply(std::span<const time_point> newest_first) const {
    validate();
    struct rule {
      std::string_view name;
      long long left;
      std::int64_t (*bucket)(const detail::utc_fields&, std::size_t index);
      std::optional<std::int64_t> last_kept{};
    };
    rule rules[] = {
        {"last", last, [](const detail::utc_fields&, std::size_t i) { return static_cast<std::int64_t>(i); }},
        {"hourly", hourly,
         [](const detail::utc_fields& u, std::size_t) {
           return ((u.year * 100 + u.month) * 100 + u.day) * 100 + u.hour;
         }},
        {"daily", daily,
         [](const detail::utc_fields& u, std::size_t) { return (u.year * 100 + u.month) * 100 + u.day; }},
        {"weekly", weekly, [](const detail::utc_fields& u, std::size_t) { return u.iso_year * 100 + u.iso_week; }},
        {"monthly", monthly, [](const detail::utc_fields& u, std::size_t) { return u.year * 100 + u.month; }},
        {"yearly", yearly, [](const detail::utc_fields& u, std::size_t) { return u.year; }},
    };
    keep_reasons reasons(newest_first.size());
    for (std::size_t i = 0; i < newest_first.size(); ++i) {
      if (newest_first[i] == time_point{}) continue;
      const auto fields = detail::utc_of(newest_first[i]);
      const bool oldest = i + 1 == newest_first.size();
      for (auto& r : rules) {
        if (r.left == 0) continue;
        const auto bucket = r.bucket(fields, i);
        if (bucket != r.last_kept || oldest) {
          r.last_kept = bucket;
          --r.left;
          reasons[i].emplace_back(r.name);
        }
      }
    }
    return reasons;
  }

  /// "keep 7 daily, 4 weekly" (the rules that are on).
  std::string describe() const {
    std::string s;
    auto add = [&](long long n, const char* what) {
      if (n > 0) s += (s.empty() ? "keep " : ", ") + std::to_string(n) + " " + what;
    };
    add(last, "last");
    add(hourly, "hourly");
    add(daily, "daily");
    add(weekly, "weekly");
    add(monthly, "monthly");
    add(yearly, "yearly");
    return s.empty() ? "keep nothing" : s;
  }

  /// Throws invalid_argument_error for negative counts or when every rule is off.
  void validate() const {
    for (long long n : {last, hourly, daily, weekly, monthly, yearly})
      if (n < 0) throw invalid_argument_error("retention counts must not be negative (got " + std::to_string(n) + ")");
    if (last + hourly + daily + weekly + monthly + yearly == 0)
      throw invalid_argument_error("a retention policy must keep something: give at least one count of 1 or more");
  }
};

/// Keeps the `n` newest backups (n >= 1).
struct keep_last {
  long long n = 7;

  keep_reasons apply(std::span<const time_point> newest_first) const {
    if (n < 1) throw invalid_argument_error("keep must be at least 1 (got " + std::to_string(n) + ")");
    keep_reasons reasons(newest_first.size());
    for (std::size_t i = 0; i < newest_first.size() && i < static_cast<std::size_t>(n); ++i)
      reasons[i].emplace_back("last");
    return reasons;
  }
  std::string describe() const { return "keep the " + std::to_string(n) + " newest"; }
};

static_assert(Retention<keep_calendar>);
static_assert(Retention<keep_last>);

}  // namespace hone::backup
