#include "offsite.hpp"

#include "app.hpp"
#include "config.hpp"
#include "hardening.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

namespace hone_app {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool is_not_found(const hb::error& e) { return e.code() == hb::errc::not_found; }

std::optional<bucket_settings> read_offsite_settings() {
  static constexpr const char* required[] = {"HONE_R2_BUCKET", "HONE_R2_ACCESS_KEY_ID", "HONE_R2_SECRET_ACCESS_KEY",
                                             "HONE_R2_ENDPOINT"};
  std::vector<std::string> missing;
  for (const char* name : required)
    if (env(name).empty()) missing.emplace_back(name);
  if (missing.size() == std::size(required)) return std::nullopt;
  bucket_settings s;
  s.bucket = env("HONE_R2_BUCKET");
  s.access_key_id = env("HONE_R2_ACCESS_KEY_ID");
  s.secret_access_key = env("HONE_R2_SECRET_ACCESS_KEY");
  s.endpoint = env("HONE_R2_ENDPOINT");
  s.prefix = env("HONE_R2_PREFIX");
  if (auto r = env("HONE_R2_REGION"); !r.empty()) s.region = r;
  // Nothing else needs the secret in the environment, where /proc/PID/environ, a core dump or
  // a child process would see it.
  drop_from_environment("HONE_R2_SECRET_ACCESS_KEY");
  if (!missing.empty()) {
    std::string names;
    for (std::size_t i = 0; i < missing.size(); ++i)
      names += (i == 0 ? "" : i + 1 == missing.size() ? " and " : ", ") + missing[i];
    throw usage_error("the offsite copy is partly configured: " + names + (missing.size() == 1 ? " is" : " are") +
                      " not set (set all four of HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID, HONE_R2_SECRET_ACCESS_KEY "
                      "and HONE_R2_ENDPOINT to upload every backup to the bucket, or none of them)");
  }
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  const bool http = s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://");
  if (!http || s.endpoint.find_first_of(" @?#", 0) != std::string::npos ||
      s.endpoint.size() <= std::string_view(s.endpoint.starts_with("https://") ? "https://" : "http://").size())
    throw usage_error("HONE_R2_ENDPOINT=" + quoted_env_value(s.endpoint) +
                      " is not valid: give the S3 endpoint as an http(s) URL without a path, e.g. "
                      "https://ACCOUNT_ID.r2.cloudflarestorage.com or https://s3.eu-west-1.amazonaws.com");
  if (s.bucket.find('/') != std::string::npos)
    throw usage_error("HONE_R2_BUCKET=" + quoted_env_value(s.bucket) +
                      " is not valid: give the bucket's name only (the key prefix goes in HONE_R2_PREFIX)");
  while (!s.prefix.empty() && s.prefix.front() == '/') s.prefix.erase(0, 1);
  return s;
}

void sort_newest_first(std::vector<located_backup>& v) {
  std::sort(v.begin(), v.end(), [](const located_backup& x, const located_backup& y) {
    const auto &a = x.info, &b = y.info;
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    const int sa = hb::sequence_from_name(a.name, "hone-"), sb = hb::sequence_from_name(b.name, "hone-");
    if (sa != sb) return sa > sb;
    return a.name > b.name;
  });
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

/// Adds what prune did in the bucket to what it did in the local folder: each name once.
void merge_prune(hb::prune_result& into, const hb::prune_result& bucket) {
  for (const auto& n : bucket.deleted_names)
    if (!contains(into.deleted_names, n)) into.deleted_names.push_back(n);
  into.bytes_freed += bucket.bytes_freed;
  for (const auto& k : bucket.retained)
    if (std::none_of(into.retained.begin(), into.retained.end(), [&](const auto& r) { return r.name == k.name; }) &&
        !contains(into.deleted_names, k.name))
      into.retained.push_back(k);
  for (const auto& n : bucket.skipped_names)
    if (!contains(into.skipped_names, n)) into.skipped_names.push_back(n);
  into.deleted_count = into.deleted_names.size();
  into.retained_count = into.retained.size();
}

}  // namespace

std::string bucket_settings::describe() const {
  return "bucket " + bucket + " at " + endpoint + (prefix.empty() ? "" : " (prefix " + prefix + ")");
}

const std::optional<bucket_settings>& offsite_settings() {
  static std::once_flag once;
  static std::optional<bucket_settings> settings;
  static std::string error;
  std::call_once(once, [] {
    try {
      settings = read_offsite_settings();
    } catch (const usage_error& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw usage_error(error);
  return settings;
}

source parse_source(std::string_view text, bool offsite_configured) {
  if (text == local_place) return source::local;
  if (text == offsite_place) {
    if (!offsite_configured)
      throw usage_error(
          "there is no offsite copy to read from: set HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID, "
          "HONE_R2_SECRET_ACCESS_KEY and HONE_R2_ENDPOINT");
    return source::offsite;
  }
  throw usage_error("'" + std::string(text.substr(0, 40)) + "' is not a place backups are kept: use local or r2");
}

backup_set::backup_set(any_runner local) : local_(std::move(local)) {}

backup_set::backup_set(any_runner local, any_runner bucket, upload_fn upload)
    : local_(std::move(local)), bucket_(std::move(bucket)), upload_(std::move(upload)) {}

created_backup backup_set::create(std::optional<std::string> requested) {
  created_backup c;
  c.info = local_.create(std::move(requested));
  if (!bucket_) return c;
  offsite_upload u;
  try {
    u.location = upload_(c.info.name, c.info);
    u.uploaded = true;
  } catch (const hb::error& e) {
    u.error = program_message(e);
  } catch (const std::exception& e) {  // whatever the bucket's answer made fail: the local backup stands
    u.error = program_message(e.what());
  }
  c.offsite = std::move(u);
  return c;
}

listed_backups backup_set::list() {
  listed_backups out;
  for (auto& b : local_.list()) out.backups.push_back({std::move(b), {std::string(local_place)}});
  if (!bucket_) return out;
  try {
    std::unordered_map<std::string, std::size_t> local_index;  // thousands of backups: no search per object
    for (std::size_t i = 0; i < out.backups.size(); ++i) local_index.emplace(out.backups[i].info.name, i);
    for (auto& b : bucket_->list()) {
      if (auto it = local_index.find(b.name); it != local_index.end())
        out.backups[it->second].locations.emplace_back(offsite_place);
      else
        out.backups.push_back({std::move(b), {std::string(offsite_place)}});
    }
  } catch (const hb::error& e) {
    out.offsite_error = program_message(e);
  }
  sort_newest_first(out.backups);
  return out;
}

std::vector<hb::backup_info> backup_set::list_offsite() {
  if (!bucket_) throw usage_error("no offsite bucket is configured (HONE_R2_*)");
  return bucket_->list();
}

located_backup backup_set::get(const std::string& requested) {
  std::optional<located_backup> found;
  try {
    found = located_backup{local_.get(requested), {std::string(local_place)}};
  } catch (const hb::error& e) {
    if (!is_not_found(e)) throw;
  }
  if (bucket_) {
    try {
      auto b = bucket_->get(requested);
      if (found)
        found->locations.emplace_back(offsite_place);
      else
        found = located_backup{std::move(b), {std::string(offsite_place)}};
    } catch (const hb::error& e) {
      if (!is_not_found(e)) throw;
    }
  }
  if (!found) throw hb::not_found_error("Backup not found: " + requested);
  return std::move(*found);
}

any_runner& backup_set::runner_for(const std::string& requested, source from) {
  if (from == source::offsite) {
    if (!bucket_) throw usage_error("there is no offsite copy to read from: HONE_R2_* is not set");
    return *bucket_;
  }
  if (from == source::local || !bucket_) return local_;
  try {
    local_.get(requested);
    return local_;
  } catch (const hb::error& e) {
    if (!is_not_found(e)) throw;
  }
  return *bucket_;
}

void backup_set::require(const std::string& requested, source from) {
  any_runner& r = runner_for(requested, from);
  try {
    r.get(requested);
  } catch (const hb::error& e) {
    if (!is_not_found(e) || from == source::any) throw;
    throw hb::not_found_error("Backup not found " +
                              std::string(from == source::offsite ? "in the bucket" : "in the local folder") + ": " +
                              requested);
  }
}

removed_backup backup_set::remove(const std::string& requested) {
  removed_backup r;
  r.name = resolve_name(requested);
  try {
    local_.remove(requested);
    r.locations.emplace_back(local_place);
  } catch (const hb::error& e) {
    if (!is_not_found(e)) throw;
  }
  if (bucket_) {
    try {
      bucket_->remove(requested);
      r.locations.emplace_back(offsite_place);
    } catch (const hb::error& e) {
      if (is_not_found(e)) {
      } else if (r.locations.empty()) {
        throw;
      } else {
        throw hb::remote_error("Deleted " + r.name +
                               " from the local folder, but not from the bucket: " + program_message(e));
      }
    }
  }
  if (r.locations.empty()) throw hb::not_found_error("Backup not found: " + requested);
  return r;
}

pruned_backups backup_set::prune(const hb::keep_calendar& policy, bool dry_run) {
  pruned_backups out;
  out.result = local_.prune(policy, dry_run);
  if (!bucket_) return out;
  try {
    merge_prune(out.result, bucket_->prune(policy, dry_run));
  } catch (const hb::error& e) {
    out.offsite_error = program_message(e);
  } catch (const std::exception& e) {  // the local folder was pruned whatever the bucket answered
    out.offsite_error = program_message(e.what());
  }
  return out;
}

hb::verify_result backup_set::verify(const std::string& requested, source from) {
  return runner_for(requested, from).verify(requested);
}

hb::restore_result backup_set::restore(const std::string& requested, const std::filesystem::path& database, bool force,
                                       source from) {
  return runner_for(requested, from).restore(requested, database, force);
}

sync_result backup_set::sync() {
  sync_result s;
  if (!bucket_) {
    s.error = "no offsite copy is configured (HONE_R2_* is not set)";
    return s;
  }
  auto local = local_.list();  // newest first
  std::set<std::string> offsite;
  try {
    for (const auto& b : bucket_->list()) offsite.insert(b.name);
  } catch (const hb::error& e) {
    s.error = "cannot list the bucket: " + program_message(e);
  }
  for (auto it = local.rbegin(); it != local.rend(); ++it) {
    if (!it->problem.empty()) continue;  // not a backup: never copied
    if (offsite.count(it->name)) {
      ++s.already_offsite;
      continue;
    }
    if (!s.error.empty()) {
      s.missing.push_back(it->name);
      continue;
    }
    try {
      upload_(it->name, *it);
      s.uploaded.push_back(it->name);
    } catch (const hb::error& e) {
      if (e.code() == hb::errc::already_exists) {  // uploaded meanwhile by another process
        ++s.already_offsite;
        continue;
      }
      s.error = "uploading " + it->name + " failed: " + program_message(e);
      s.missing.push_back(it->name);
    }
  }
  return s;
}

void scheduled_backups::warn(const std::string& m) const {
  if (log_) log_(hb::log_level::warning, m);
}

void scheduled_backups::failed(const std::string& operation, const std::string& message) const {
  if (failed_) failed_(operation, message);
}

hb::backup_info scheduled_backups::create() {
  created_backup c = set_.create();
  if (!c.offsite) return c.info;
  if (!c.offsite->uploaded) {
    warn("backup " + c.info.name + " is kept in the local folder only: its upload to the bucket failed: " +
         c.offsite->error + " (the next cycle uploads it)");
    failed("upload", c.offsite->error);
    return c.info;
  }
  if (log_) log_(hb::log_level::info, "backup " + c.info.name + " uploaded to " + c.offsite->location);
  sync_result s;
  try {
    s = set_.sync();
  } catch (const std::exception& e) {  // the backup was created: the bucket's failure is reported, not thrown
    s.error = program_message(e.what());
  }
  if (!s.uploaded.empty() && log_) {
    std::string names;
    for (const auto& n : s.uploaded) names += (names.empty() ? "" : ", ") + n;
    log_(hb::log_level::info,
         "sync: uploaded " + std::to_string(s.uploaded.size()) + " backup(s) the bucket lacked: " + names);
  }
  if (!s.error.empty()) {
    warn("sync: " + s.error + " (" + std::to_string(s.missing.size()) + " backup(s) not in the bucket yet)");
    failed("upload", s.error);
  }
  return c.info;
}

hb::prune_result scheduled_backups::prune(const hb::keep_calendar& policy) {
  pruned_backups p = set_.prune(policy);
  if (!p.offsite_error.empty()) {
    warn("pruning the bucket failed: " + p.offsite_error);
    failed("prune", p.offsite_error);
  }
  return std::move(p.result);
}

}  // namespace hone_app
