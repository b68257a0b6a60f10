// The JSON documents of the REST API (backup-system.txt), shared by the server and by the
// CLI's --json output so that both print exactly the same thing.
#pragma once

#include "offsite/offsite.hpp"

#include <hone/backup.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

using json = nlohmann::ordered_json;  // keeps the fields in the order of the description
namespace hb = hone::backup;

/// A count, or null when its table does not exist.
json count_json(const std::optional<std::int64_t>& c);

/// GET /api/backup/:name and each element of GET /api/backup:
/// {name, path, size, created_at, encrypted, compressed, deflated}, plus "problem" for a file
/// named like a backup that is not one. `compressed` is true for every gzip backup; `deflated`
/// tells whether its data actually shrank (false for encrypted backups: stored blocks).
json backup_json(const hb::backup_info& b);

/// GET /api/backup: an array of backup_json, newest first.
json list_json(const std::vector<hb::backup_info>& all);

/// backup_json plus "pinned" (kept by every prune: hone backup pin), and "locations" (["local", "r2"]: where it is) and
/// "offsite_conflict" (the bucket holds other bytes under the name: "r2" is then not a location) when `with_locations`
/// (a bucket is configured).
json backup_json(const located_backup& b, bool with_locations);
json list_json(const std::vector<located_backup>& all, bool with_locations);

/// POST /api/backup: {name, path, size, created_at, accounts, transactions, subscriptions,
/// encrypted, compressed, deflated}, plus, when a bucket is configured, "offsite":
/// {"uploaded": true, "conflict": false, "location": URL} or {"uploaded": false, "conflict": C,
/// "error": MESSAGE} (conflict: the bucket holds other bytes under the name; nothing was
/// overwritten).
json create_json(const hb::backup_info& b, const std::optional<offsite_upload>& offsite = std::nullopt);

/// POST /api/backup/sync: {uploaded_count, uploaded_names, already_offsite, missing_names,
/// conflict_names}
/// ("error" is sent as an error response instead).
json sync_json(const sync_result& s);

/// POST /api/backup/prune: {deleted_count, deleted_names, retained_count, bytes_freed,
/// skipped_names} (skipped: files named like backups that are not backups, never deleted).
json prune_json(const hb::prune_result& r);
/// ... plus, when `with_locations`, "locations": {"local": {deleted_names, retained_names,
/// bytes_freed}, "r2": the same or null when the bucket was not pruned} and "offsite_error".
json prune_json(const pruned_backups& p, bool with_locations);

/// POST /api/backup/verify: {valid, name, accounts, transactions, message} (the message in the
/// program's words: "HONE_DB_KEY is not set" for an encrypted backup without a key).
json verify_json(const hb::verify_result& r);

/// POST /api/backup/:name/restore: {restored, backup_name, message}.
json restore_json(const hb::restore_result& r);

/// DELETE /api/backup/:name: {deleted: true, name}.
json delete_json(const std::string& name);
/// ... plus "locations" (where it was deleted) when `with_locations`.
json delete_json(const removed_backup& r, bool with_locations);

/// Every error of the API: {"error": MESSAGE, "code": CODE} (CODE: app.hpp error_code, the
/// same strings as the CLI's).
json error_json(const std::string& message, std::string_view code);

/// A failure of the CLI with --json: {"error": {"code": CODE, "message": MESSAGE}}.
json cli_error_json(std::string_view code, const std::string& message);

/// Pretty-printed (2 spaces) with a final newline; invalid UTF-8 in file names is replaced, not
/// thrown on.
std::string to_text(const json& j);

}  // namespace hone_app
