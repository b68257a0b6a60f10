// Backup names: validation of user-given names and the timestamped automatic name
// PREFIX-YYYY-MM-DD-HHMMSS.db.gz (UTC; PREFIX is "backup" unless the caller gives another),
// with a -N suffix when a second backup lands in the same second.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace hone::backup {

inline constexpr std::size_t max_name_bytes = 255;

/// Why `name` is not acceptable as a backup name, or empty when it is.
inline std::string name_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > max_name_bytes) return "the name is longer than 255 bytes";
  if (name.front() == '.') return "the name must not start with '.'";
  if (name == "..") return "the name must not be '..'";
  for (unsigned char c : name) {
    if (c == '/' || c == '\\') return "the name must be a plain file name (no '/' or '\\')";
    if (c < 0x20 || c == 0x7f) return "the name must not contain control characters";
  }
  if (name.find("..") != std::string_view::npos) return "the name must not contain '..'";
  return {};
}

namespace detail {

/// The first 64 bytes of a name for an error message, control characters written as \xNN: a
/// NUL would cut the message short, a newline or an escape sequence would garble a terminal.
inline std::string name_for_message(std::string_view name) {
  std::string out;
  for (unsigned char c : name.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return name.size() > 64 ? out + "..." : out;
}

}  // namespace detail

/// Throws invalid_name_error unless `name` is a plain file name.
inline void validate_name(std::string_view name) {
  if (auto why = name_problem(name); !why.empty())
    throw invalid_name_error("Invalid backup name '" + detail::name_for_message(name) + "': " + why);
}

/// Formats t (UTC) as YYYY-MM-DD-HHMMSS.
inline std::string name_timestamp(time_point t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto days = std::chrono::floor<std::chrono::days>(secs);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u-%02d%02d%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

/// Formats t as ISO 8601 UTC with a Z: 2024-01-15T14:30:22Z.
inline std::string iso8601(time_point t) {
  auto s = name_timestamp(t);  // YYYY-MM-DD-HHMMSS
  return s.substr(0, 10) + "T" + s.substr(11, 2) + ":" + s.substr(13, 2) + ":" + s.substr(15, 2) + "Z";
}

/// The prefix of automatic names unless a runner is given another (runner_options::name_prefix).
inline constexpr std::string_view default_name_prefix = "backup-";

/// The automatic name for a backup taken at t: <prefix>YYYY-MM-DD-HHMMSS<suffix>, and for the
/// n-th extra backup of the same second <prefix>YYYY-MM-DD-HHMMSS-n<suffix>.
inline std::string default_name(time_point t, std::string_view suffix, int n = 0,
                                std::string_view prefix = default_name_prefix) {
  std::string name = std::string(prefix) + name_timestamp(t);
  if (n > 0) name += "-" + std::to_string(n);
  name += suffix;
  return name;
}

/// The time encoded in an automatic name (<prefix>YYYY-MM-DD-HHMMSS[-N].<anything>), if any.
inline std::optional<time_point> timestamp_from_name(std::string_view name,
                                                     std::string_view prefix = default_name_prefix) {
  if (name.size() < prefix.size() + 17 || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  name.remove_prefix(prefix.size());  // YYYY-MM-DD-HHMMSS...
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (name[i] < '0' || name[i] > '9') return false;
      out = out * 10 + (name[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!digits(0, 4, y) || name[4] != '-' || !digits(5, 2, mo) || name[7] != '-' || !digits(8, 2, d) ||
      name[10] != '-' || !digits(11, 2, h) || !digits(13, 2, mi) || !digits(15, 2, s))
    return std::nullopt;
  if (name.size() > 17 && name[17] != '.' && name[17] != '-') return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  const std::chrono::sys_seconds t =
      std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s};
  // time_point may count nanoseconds (libstdc++), which reach only the years 1677-2262; a name
  // outside its range is no automatic name (converting it would overflow).
  constexpr auto earliest = std::chrono::ceil<std::chrono::seconds>(time_point::min());
  constexpr auto latest = std::chrono::floor<std::chrono::seconds>(time_point::max());
  if (t < earliest || t > latest) return std::nullopt;
  return time_point{t};
}

/// For automatic names, the n of a -n suffix (0 when there is none): orders backups taken
/// within the same second.
inline int sequence_from_name(std::string_view name, std::string_view prefix = default_name_prefix) {
  if (!timestamp_from_name(name, prefix)) return 0;
  name.remove_prefix(prefix.size());
  if (name.size() < 19 || name[17] != '-') return 0;
  int n = 0;
  for (std::size_t i = 18; i < name.size() && name[i] >= '0' && name[i] <= '9' && n < 1000000; ++i)
    n = n * 10 + (name[i] - '0');
  return n;
}

/// The order of backup listings, newest first: by creation time; within one second by the -n
/// suffix of automatic names with `prefix` (backups taken in the same second, the later one with
/// the larger n); then by name, descending, so that the order is total. A strict weak ordering
/// of backup_info for std::sort.
class newest_first {
 public:
  explicit newest_first(std::string_view prefix = default_name_prefix) : prefix_(prefix) {}

  bool operator()(const backup_info& a, const backup_info& b) const {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    const int sa = sequence_from_name(a.name, prefix_), sb = sequence_from_name(b.name, prefix_);
    if (sa != sb) return sa > sb;
    return a.name > b.name;
  }

 private:
  std::string prefix_;
};

}  // namespace hone::backup
