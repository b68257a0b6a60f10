// "Is my last backup good?": the document of `hone backup status` and GET /api/backup/status,
// and the small state files it is built from besides the backup listing (README "Monitoring"):
//
//   <backup folder>/.hone-status.json       written by `hone serve`: its scheduler's policy, last
//                                           and next run, the last failure it reported
//   <backup folder>/.hone-last-verify.json  written by every verify (CLI and API)
//
// Both are owner-only JSON files replaced atomically (temporary file, fsync, rename), hidden
// (the backup listing ignores names starting with '.').
#pragma once

#include "core/json_output.hpp"

#include <hone/backup.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

inline constexpr const char* server_state_file = ".hone-status.json";
inline constexpr const char* last_verify_file = ".hone-last-verify.json";

/// A duration such as "26h", "90m", "2d", "45s", "1w" or "1d12h" (whole numbers, each followed
/// by a unit s, m, h, d or w; at most 100 years); nullopt when malformed or zero.
std::optional<std::chrono::seconds> parse_age(std::string_view text);

/// "2024-01-15T14:30:22Z" (as hb::iso8601 writes it) back to a time; nullopt when malformed.
std::optional<hb::time_point> parse_iso8601(std::string_view text);

/// Writes `j` to `path` atomically and owner-only (0600): a temporary file in the same folder,
/// fsynced, renamed over `path`, and the folder fsynced. False (with `error` set) on failure;
/// nothing half-written is left behind.
bool write_json_file(const std::filesystem::path& path, const json& j, std::string& error);

/// The JSON object in `path`; nullopt when the file is missing, unreadable or not a JSON object.
std::optional<json> read_json_file(const std::filesystem::path& path);

/// Records a verify outcome in the backup folder's .hone-last-verify.json (best effort: a
/// folder that cannot be written is logged at debug level and otherwise ignored).
void record_verify(const std::filesystem::path& backup_dir, const hb::verify_result& v, hb::time_point at);

/// The policy as JSON: {"keep_last", "keep_hourly", ..., "keep_yearly", "description"}.
json policy_json(const hb::keep_calendar& p);

/// What the status document is made of.
struct status_inputs {
  std::filesystem::path backup_dir;
  hb::time_point now{};
  /// The backups of the local folder, or the error that prevented listing them.
  std::vector<hb::backup_info> local;
  std::string local_error;
  /// With an offsite bucket (HONE_R2_*): its backups, or the error that prevented listing them.
  bool offsite_configured = false;
  std::vector<hb::backup_info> offsite;
  std::string offsite_error;
  /// Names of local backups whose object of the same name in the bucket holds other bytes.
  std::vector<std::string> offsite_conflicts;
  std::optional<std::chrono::seconds> max_age;
  /// The "scheduler" object (see scheduler_json / the state file), or null when unknown.
  json scheduler;
  json last_failure;  ///< {"operation", "message", "at"} or null
  json last_verify;   ///< the .hone-last-verify.json object or null
};

/// The status document (README "Monitoring"): ok, newest, count/bytes with the per-location
/// breakdown ("local", and "r2" with a bucket; ok needs both listed and no conflict), stale
/// (when a max age is given), scheduler, last_failure, last_verify.
json status_json(const status_inputs& in);

/// True when the status is fine: a newest backup exists and (with a max age) is not older.
bool status_ok(const json& status);

/// The backups of the local folder `dir` into in.local (or in.local_error).
void list_local(const std::filesystem::path& dir, status_inputs& in);

/// When an offsite bucket is configured (HONE_R2_*), its backups into in.offsite (or
/// in.offsite_error), the names in conflict with in.local into in.offsite_conflicts, and
/// in.offsite_configured set. Call after list_local.
void list_offsite(const std::filesystem::path& dir, status_inputs& in);

/// The human-readable status (`hone backup status` without --json).
std::string status_text(const json& status);

}  // namespace hone_app
