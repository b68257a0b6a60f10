#include "core/json_output.hpp"

#include "core/app.hpp"
#include "core/backup_format.hpp"

namespace hone_app {

json count_json(const std::optional<std::int64_t>& c) { return c ? json(*c) : json(nullptr); }

json backup_json(const hb::backup_info& b) {
  json j{{"name", b.name},           {"path", b.path},
         {"size", b.size},           {"created_at", hb::iso8601(b.created_at)},
         {"encrypted", b.encrypted}, {"compressed", b.compressed},
         {"deflated", b.deflated},   {"format", format_of_backup(b.name)}};
  if (!b.owner.empty()) j["owner"] = b.owner;  // another user's file (a NAS share)
  if (!b.problem.empty()) j["problem"] = b.problem;
  return j;
}

json list_json(const std::vector<hb::backup_info>& all) {
  json arr = json::array();
  for (const auto& b : all) arr.push_back(backup_json(b));
  return arr;
}

json backup_json(const located_backup& b, bool with_locations) {
  json j = backup_json(b.info);
  j["pinned"] = b.pinned;
  if (with_locations) {
    j["locations"] = b.locations;
    j["offsite_conflict"] = b.offsite_conflict;
  }
  return j;
}

json list_json(const std::vector<located_backup>& all, bool with_locations) {
  json arr = json::array();
  for (const auto& b : all) arr.push_back(backup_json(b, with_locations));
  return arr;
}

json sync_json(const sync_result& s) {
  return json{{"uploaded_count", s.uploaded.size()},
              {"uploaded_names", s.uploaded},
              {"already_offsite", s.already_offsite},
              {"missing_names", s.missing},
              {"conflict_names", s.conflicts}};
}

json create_json(const hb::backup_info& b, const std::optional<offsite_upload>& offsite) {
  json j{{"name", b.name},
         {"path", b.path},
         {"size", b.size},
         {"created_at", hb::iso8601(b.created_at)},
         {"accounts", count_json(b.counts["accounts"])},
         {"transactions", count_json(b.counts["transactions"])},
         {"subscriptions", count_json(b.counts["subscriptions"])},
         {"encrypted", b.encrypted},
         {"compressed", b.compressed},
         {"deflated", b.deflated},
         {"format", format_of_backup(b.name)}};
  if (offsite)
    j["offsite"] = offsite->uploaded
                       ? json{{"uploaded", true}, {"conflict", false}, {"location", offsite->location}}
                       : json{{"uploaded", false}, {"conflict", offsite->conflict}, {"error", offsite->error}};
  return j;
}

json prune_json(const hb::prune_result& r) {
  std::vector<std::string> retained;  // newest first
  for (const auto& k : r.retained) retained.push_back(k.name);
  return json{{"deleted_count", r.deleted_count},
              {"deleted_names", r.deleted_names},
              {"retained_count", r.retained_count},
              {"bytes_freed", r.bytes_freed},
              {"skipped_names", r.skipped_names},
              {"retained_names", retained},
              {"dry_run", r.dry_run}};
}

json prune_json(const pruned_backups& p, bool with_locations) {
  json j = prune_json(p.result);
  if (!with_locations) return j;
  auto place = [](const hb::prune_result& r) {
    std::vector<std::string> retained;
    for (const auto& k : r.retained) retained.push_back(k.name);
    return json{{"deleted_names", r.deleted_names}, {"retained_names", retained}, {"bytes_freed", r.bytes_freed}};
  };
  j["locations"] = json::object();
  j["locations"][std::string(local_place)] = place(p.local);
  j["locations"][std::string(offsite_place)] = p.offsite ? place(*p.offsite) : json(nullptr);
  if (!p.offsite_error.empty()) j["offsite_error"] = p.offsite_error;
  return j;
}

json verify_json(const hb::verify_result& r) {
  return json{{"valid", r.valid},
              {"name", r.name},
              {"accounts", count_json(r.counts["accounts"])},
              {"transactions", count_json(r.counts["transactions"])},
              {"message", program_message(r.message)}};
}

json restore_json(const hb::restore_result& r) {
  return json{{"restored", r.restored},
              {"backup_name", r.backup_name},
              {"message", "Database restored successfully. Server restart recommended."}};
}

json delete_json(const std::string& name) { return json{{"deleted", true}, {"name", name}}; }

json delete_json(const removed_backup& r, bool with_locations) {
  json j = delete_json(r.name);
  if (with_locations) j["locations"] = r.locations;
  return j;
}

json error_json(const std::string& message, std::string_view code) { return json{{"error", message}, {"code", code}}; }

json cli_error_json(std::string_view code, const std::string& message) {
  return json{{"error", json{{"code", code}, {"message", message}}}};
}

std::string to_text(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

}  // namespace hone_app
