#include "config/config.hpp"

#include "config/environment.hpp"
#include "core/app.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <utility>

namespace hone_app {

namespace hb = hone::backup;

namespace {

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// Plain decimal: digits, optionally a '.' followed by digits ("24", "0.5"; not "24.", ".5",
/// "+1", "1e3", "0x10", "inf", " 24").
bool is_plain_decimal(std::string_view s) noexcept {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return all_digits(s);
  return all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

/// A whole number of at least 1 in plain digits, or nullopt.
std::optional<long long> positive_whole(std::string_view v) {
  long long n = 0;
  if (!all_digits(v) || std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc{} || n < 1)
    return std::nullopt;
  return n;
}

/// The interval of HONE_BACKUP_SCHEDULE, or why it is refused.
const char* parse_interval(std::string_view s, std::chrono::nanoseconds& interval) {
  double hours = 0;
  const auto parsed = is_plain_decimal(s)
                          ? std::from_chars(s.data(), s.data() + s.size(), hours, std::chars_format::fixed).ec
                          : std::errc::invalid_argument;
  const bool whole_hours = s.substr(0, s.find('.')).find_first_not_of('0') != std::string_view::npos;
  if (parsed == std::errc::result_out_of_range) return whole_hours ? "over 100 years" : "under one minute";
  if (parsed != std::errc{} || !std::isfinite(hours)) return "not a plain decimal number";
  if (hours * 3600.0 > std::chrono::duration<double>(max_schedule_interval).count()) return "over 100 years";
  interval = std::chrono::nanoseconds(std::llround(hours * 3600.0 * 1e9));
  if (interval < min_schedule_interval) return "under one minute";
  return nullptr;
}

}  // namespace

std::string quoted_env_value(std::string_view v) {
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

long long keep_last_or_default(const hb::keep_calendar& rules, std::optional<long long> keep) {
  if (keep) return *keep;
  const bool calendar = rules.hourly + rules.daily + rules.weekly + rules.monthly + rules.yearly > 0;
  return calendar ? 0 : default_keep_last;
}

hb::schedule_config parse_schedule(const char* schedule, const char* retention, std::array<const char*, 5> keep) {
  hb::schedule_config c;
  std::string errors;
  auto refuse = [&](const std::string& message) { errors += (errors.empty() ? "" : "; ") + message; };

  if (schedule && *schedule) {
    const std::string_view s = schedule;
    std::chrono::nanoseconds interval{0};
    if (const char* why = parse_interval(s, interval))
      refuse("HONE_BACKUP_SCHEDULE=" + quoted_env_value(s) + " is not valid (" + why +
             "): give the interval in hours as a plain decimal number of at least 0.0167 (one minute) and at most "
             "876000 (100 years), e.g. 24 for daily or 0.5 for every 30 minutes");
    else
      c.interval = interval;
  }

  if (retention && *retention) {
    if (auto n = positive_whole(retention))
      c.retention = *n;
    else
      refuse("HONE_BACKUP_RETENTION=" + quoted_env_value(retention) +
             " is not valid: give the number of backups to keep as a whole number of at least 1 in plain digits, "
             "e.g. 7");
  }
  static constexpr const char* keep_names[] = {"HONE_BACKUP_KEEP_HOURLY", "HONE_BACKUP_KEEP_DAILY",
                                               "HONE_BACKUP_KEEP_WEEKLY", "HONE_BACKUP_KEEP_MONTHLY",
                                               "HONE_BACKUP_KEEP_YEARLY"};
  long long* rules[] = {&c.policy.hourly, &c.policy.daily, &c.policy.weekly, &c.policy.monthly, &c.policy.yearly};
  bool calendar = false;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i] || !*keep[i]) continue;
    if (auto n = positive_whole(keep[i])) {
      *rules[i] = *n;
      calendar = true;
    } else {
      refuse(std::string(keep_names[i]) + "=" + quoted_env_value(keep[i]) +
             " is not valid: give a whole number of at least 1 in plain digits, e.g. 7");
    }
  }
  c.policy.last = keep_last_or_default(c.policy, retention && *retention ? std::optional(c.retention) : std::nullopt);

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

bucket_time_limits parse_bucket_time_limits(const char* cycle, const char* api) {
  bucket_time_limits l;
  const std::pair<const char*, const char*> vars[] = {{"HONE_R2_CYCLE_TIMEOUT", cycle}, {"HONE_R2_API_TIMEOUT", api}};
  std::chrono::seconds* out[] = {&l.cycle, &l.api};
  for (std::size_t i = 0; i < std::size(vars); ++i) {
    const auto [name, value] = vars[i];
    if (!value || !*value) continue;
    const auto n = positive_whole(value);
    if (n && *n <= max_bucket_time_limit.count()) {
      *out[i] = std::chrono::seconds(*n);
      continue;
    }
    l.error += (l.error.empty() ? "" : "; ") + std::string(name) + "=" + quoted_env_value(value) +
               " is not valid: give the time limit in seconds as a whole number from 1 to 86400 in plain digits, "
               "e.g. 1800 for 30 minutes";
  }
  return l;
}

bucket_time_limits bucket_time_limits_from_environment() {
  return parse_bucket_time_limits(env_value("HONE_R2_CYCLE_TIMEOUT"), env_value("HONE_R2_API_TIMEOUT"));
}

hb::schedule_config schedule_from_environment() {
  return parse_schedule(
      env_value("HONE_BACKUP_SCHEDULE"), env_value("HONE_BACKUP_RETENTION"),
      {env_value("HONE_BACKUP_KEEP_HOURLY"), env_value("HONE_BACKUP_KEEP_DAILY"), env_value("HONE_BACKUP_KEEP_WEEKLY"),
       env_value("HONE_BACKUP_KEEP_MONTHLY"), env_value("HONE_BACKUP_KEEP_YEARLY")});
}

bool backup_dir_shared_from_environment() {
  const std::string v = env("HONE_BACKUP_DIR_SHARED");
  if (v.empty() || v == "0") return false;
  if (v == "1") return true;
  throw usage_error("HONE_BACKUP_DIR_SHARED=" + quoted_env_value(v) +
                    " is not valid: set it to 1 to accept a backup folder that others may write to (a NAS share) "
                    "with an unencrypted database, or to 0 (or leave it unset)");
}

}  // namespace hone_app
