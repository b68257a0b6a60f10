#include "offsite/offsite.hpp"

#include "core/app.hpp"
#include "core/pins.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace hone_app {

namespace {

bool is_not_found(const hb::error& e) { return e.code() == hb::errc::not_found; }

/// What the bucket threw, as the program says it: a library error in the program's words;
/// anything else (an answer the client could not use) as the bucket's failure, never as an
/// internal error of the program.
std::string bucket_text(const std::exception& e) {
  if (const auto* he = dynamic_cast<const hb::error*>(&e)) return program_message(*he);
  const char* what = dynamic_cast<const std::out_of_range*>(&e)       ? "a number out of range"
                     : dynamic_cast<const std::invalid_argument*>(&e) ? "a value that is not a number"
                     : dynamic_cast<const std::bad_alloc*>(&e)        ? "more data than fits in memory"
                     : dynamic_cast<const std::length_error*>(&e)     ? "more data than fits in memory"
                                                                      : nullptr;
  return std::string("the offsite bucket gave an answer that cannot be used") +
         (what ? std::string(" (") + what + ")" : std::string(" (") + e.what() + ")");
}

/// Runs `f`, a request to the bucket: what it throws that is not a hone::backup::error becomes
/// a remote_error (errc::remote: exit 1, HTTP 502), so that every bucket failure is reported as one.
template <class F>
auto on_bucket(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const hb::error&) {
    throw;
  } catch (const usage_error&) {
    throw;
  } catch (const std::exception& e) {
    throw hb::remote_error(bucket_text(e));
  }
}

bool equal_hex(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string conflict_message(const std::string& name) {
  return "the offsite bucket already holds other bytes under the name " + name +
         " (another size or SHA-256): nothing was overwritten, so this backup is not offsite; delete or rename "
         "the bucket's object, or use another HONE_R2_PREFIX";
}

void sort_newest_first(std::vector<located_backup>& v) {
  std::sort(v.begin(), v.end(),
            [by = hb::newest_first(backup_name_prefix)](const located_backup& x, const located_backup& y) {
              return by(x.info, y.info);
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

backup_set::backup_set(any_runner local, std::filesystem::path dir) : local_(std::move(local)), dir_(std::move(dir)) {}

backup_set::backup_set(any_runner local, std::filesystem::path dir, any_runner bucket, offsite_io io)
    : local_(std::move(local)), dir_(std::move(dir)), bucket_(std::move(bucket)), io_(std::move(io)) {}

std::string backup_set::backup_name(std::string_view requested) const {
  std::string name = local_.backup_name(requested);
  if (name.substr(0, name.find('.')) == latest_name)
    throw hb::invalid_name_error("The name 'latest' is reserved: it names the newest backup (choose another --name)");
  return name;
}

std::string backup_set::named(const std::string& requested) {
  if (requested != latest_name) return requested;
  const listed_backups listed = list();
  for (const auto& b : listed.backups)
    if (b.info.problem.empty()) return b.info.name;
  throw hb::not_found_error("Backup not found: there is no backup, so 'latest' names none");
}

bool backup_set::pin(const std::string& requested, bool pinned) {
  const std::string name = resolve_name(requested);
  const bool was = read_pins(dir_).contains(name);
  if (pinned || !was) get(requested);  // not_found_error for a backup that is not there
  return set_pin(dir_, name, pinned);
}

bool backup_set::same_bytes(const hb::backup_info& local, const hb::backup_info& offsite) {
  if (local.size != offsite.size) return false;
  const std::string mine = io_.local_sha256(local);
  // An object without a checked record of its SHA-256 is read (once: the read writes the
  // record), never assumed to be the same.
  std::string theirs = offsite.sha256;
  if (theirs.empty()) {
    try {
      theirs = on_bucket([&] { return io_.offsite_sha256(offsite.name); });
    } catch (const hb::error& e) {
      // An object that does not read back as its ETag says holds no bytes one can count on.
      if (e.code() == hb::errc::corrupt_backup) return false;
      throw;
    }
  }
  return !mine.empty() && equal_hex(mine, theirs);
}

std::optional<hb::backup_info> backup_set::offsite_entry(const std::string& name) {
  try {
    return on_bucket([&] { return bucket_->get(name); });
  } catch (const hb::error& e) {
    if (is_not_found(e)) return std::nullopt;
    throw;
  }
}

std::string backup_set::offsite_copy_hint(const std::string& name) {
  if (!bucket_) return {};
  try {
    if (!offsite_entry(name)) return {};
  } catch (const std::exception&) {
    return {};  // the bucket cannot say: no hint rather than a second error
  }
  return "; the offsite bucket holds a copy of " + name +
         ": verify or restore that one with --from r2 (API: \"from\": \"r2\")";
}

std::vector<std::string> backup_set::conflicts(const std::vector<hb::backup_info>& local,
                                               const std::vector<hb::backup_info>& offsite) {
  std::vector<std::string> out;
  if (!bucket_) return out;
  std::unordered_map<std::string, const hb::backup_info*> local_index;
  for (const auto& b : local) local_index.emplace(b.name, &b);
  for (const auto& b : offsite)
    if (auto it = local_index.find(b.name); it != local_index.end() && !same_bytes(*it->second, b))
      out.push_back(b.name);
  return out;
}

created_backup backup_set::create(std::optional<std::string> requested) {
  created_backup c;
  if (requested) backup_name(*requested);  // "latest" is reserved
  c.info = local_.create(std::move(requested));
  if (!bucket_) return c;
  offsite_upload u;
  try {
    try {
      u.location = io_.upload(c.info.name, c.info);
      u.uploaded = true;
    } catch (const hb::error& e) {
      if (e.code() != hb::errc::already_exists) throw;
      // The bucket has the name: it is this backup only if it holds the same bytes.
      auto there = offsite_entry(c.info.name);
      if (!there) throw;
      if (same_bytes(c.info, *there)) {
        u.location = there->path;
        u.uploaded = true;
      } else {
        u.conflict = true;
        u.error = conflict_message(c.info.name);
      }
    }
  } catch (const std::exception& e) {
    u.error = bucket_text(e);
  }
  c.offsite = std::move(u);
  return c;
}

listed_backups backup_set::list() {
  listed_backups out;
  const std::set<std::string> pins = read_pins(dir_);
  auto mark_pins = [&] {
    for (auto& b : out.backups) b.pinned = pins.contains(b.info.name);
  };
  for (auto& b : local_.list()) out.backups.push_back({std::move(b), {std::string(local_place)}});
  if (!bucket_) {
    mark_pins();
    return out;
  }
  try {
    std::vector<located_backup> all = out.backups;             // kept as it is when the bucket fails
    std::unordered_map<std::string, std::size_t> local_index;  // thousands of backups: no search per object
    for (std::size_t i = 0; i < all.size(); ++i) local_index.emplace(all[i].info.name, i);
    for (auto& b : on_bucket([&] { return bucket_->list(); })) {
      if (auto it = local_index.find(b.name); it != local_index.end()) {
        located_backup& l = all[it->second];
        if (same_bytes(l.info, b))
          l.locations.emplace_back(offsite_place);
        else
          l.offsite_conflict = true;
      } else {
        all.push_back({std::move(b), {std::string(offsite_place)}});
      }
    }
    out.backups = std::move(all);
  } catch (const std::exception& e) {
    out.offsite_error = bucket_text(e);
  }
  sort_newest_first(out.backups);
  mark_pins();
  return out;
}

std::vector<hb::backup_info> backup_set::list_offsite() {
  if (!bucket_) throw usage_error("no offsite bucket is configured (HONE_R2_*)");
  return on_bucket([&] { return bucket_->list(); });
}

located_backup backup_set::get(const std::string& requested) {
  std::optional<located_backup> found;
  try {
    found = located_backup{local_.get(requested), {std::string(local_place)}};
  } catch (const hb::error& e) {
    if (!is_not_found(e)) throw;
  }
  if (bucket_) {
    if (auto b = offsite_entry(requested)) {
      if (!found)
        found = located_backup{std::move(*b), {std::string(offsite_place)}};
      else if (same_bytes(found->info, *b))
        found->locations.emplace_back(offsite_place);
      else
        found->offsite_conflict = true;
    }
  }
  if (!found) throw hb::not_found_error("Backup not found: " + requested);
  found->pinned = read_pins(dir_).contains(found->info.name);
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
    if (&r == &local_)
      r.get(requested);
    else
      on_bucket([&] { return r.get(requested); });
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
      on_bucket([&] { return bucket_->remove(requested); });
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
  // A pin is for the backup deleted, not for a later one of its name. A pins file that cannot
  // be read is left as it is: every prune reports it.
  try {
    if (read_pins(dir_).contains(r.name)) set_pin(dir_, r.name, false);
  } catch (const hb::error&) {
  }
  return r;
}

namespace {

/// The retention decided once over the union of both places, applied to one place: `planned`
/// is that place's backups (as its list gives them, newest first) with the rules that keep each
/// (empty: delete). A backup the plan does not know (made since) is kept; so is every backup
/// of a time whose planned backups the place no longer matches one for one.
struct planned_retention {
  std::string description;
  std::vector<std::pair<hb::time_point, std::vector<std::string>>> planned;

  hb::keep_reasons apply(std::span<const hb::time_point> newest_first) const {
    hb::keep_reasons out(newest_first.size());
    const bool same = newest_first.size() == planned.size() &&
                      std::equal(newest_first.begin(), newest_first.end(), planned.begin(),
                                 [](hb::time_point t, const auto& p) { return t == p.first; });
    for (std::size_t i = 0; i < newest_first.size(); ++i) {
      if (same) {
        out[i] = planned[i].second;
        continue;
      }
      // The place changed since it was listed: delete only what is certain.
      bool any = false, all_deleted = true;
      std::vector<std::string> reasons;
      std::size_t seen = 0, have = 0;
      for (const auto& p : planned)
        if (p.first == newest_first[i]) {
          any = true;
          ++seen;
          if (!p.second.empty()) {
            all_deleted = false;
            reasons = p.second;
          }
        }
      for (const auto& t : newest_first)
        if (t == newest_first[i]) ++have;
      if (any && all_deleted && seen == have) continue;  // deleted, as planned
      out[i] = any && !reasons.empty() ? reasons : std::vector<std::string>{"new since planned"};
    }
    return out;
  }
  std::string describe() const { return description; }
};

/// The plan of one place: its backups (not the files that are not backups) with the union's
/// decision for each name.
any_retention plan_for(const std::vector<hb::backup_info>& place,
                       const std::map<std::string, std::vector<std::string>>& decision,
                       const std::string& description) {
  planned_retention p{description, {}};
  for (const auto& b : place) {
    if (!b.problem.empty()) continue;
    auto it = decision.find(b.name);
    p.planned.emplace_back(b.created_at,
                           it == decision.end() ? std::vector<std::string>{"new since planned"} : it->second);
  }
  return any_retention{[p](std::span<const hb::time_point> t) { return p.apply(t); }, description};
}

}  // namespace

std::map<std::string, std::vector<std::string>> backup_set::decide(const hb::keep_calendar& policy,
                                                                   const std::set<std::string>& pins,
                                                                   const std::vector<hb::backup_info>& local,
                                                                   const std::vector<hb::backup_info>& offsite) {
  std::map<std::string, std::vector<std::string>> decision;
  // The union, each name once, newest first: the policy decides once what is kept. Pinned
  // backups are kept and not counted (a pin never pushes another backup out).
  std::vector<located_backup> all;
  std::set<std::string> seen;
  const std::vector<hb::backup_info>* places[] = {&local, &offsite};
  for (const auto* place : places)
    for (const auto& b : *place) {
      if (!b.problem.empty() || !seen.insert(b.name).second) continue;
      if (pins.contains(b.name))
        decision[b.name] = {"pinned"};
      else
        all.push_back(located_backup{b, {}, false});
    }
  sort_newest_first(all);
  std::vector<hb::time_point> times;
  for (const auto& b : all) times.push_back(b.info.created_at);
  const hb::keep_reasons reasons = policy.apply(times);
  for (std::size_t i = 0; i < all.size(); ++i)
    decision[all[i].info.name] =
        all[i].info.created_at == hb::time_point{} ? std::vector<std::string>{"time unknown"} : reasons[i];
  return decision;
}

pruned_backups backup_set::prune(const hb::keep_calendar& policy, bool dry_run) {
  pruned_backups out;
  const std::set<std::string> pins = read_pins(dir_);  // unreadable: throws before anything is deleted
  if (!bucket_ && pins.empty()) {
    out.local = local_.prune(policy, dry_run);
    out.result = out.local;
    return out;
  }
  policy.validate();
  std::vector<hb::backup_info> offsite;
  bool with_bucket = bucket_.has_value();
  if (bucket_) {
    try {
      offsite = on_bucket([&] { return bucket_->list(); });
    } catch (const std::exception& e) {
      out.offsite_error = bucket_text(e);
      with_bucket = false;  // the local folder is pruned whatever the bucket does
    }
  }
  const std::vector<hb::backup_info> local = local_.list();
  const auto decision = decide(policy, pins, local, offsite);
  const std::string description = policy.describe();
  out.local = local_.prune(plan_for(local, decision, description), dry_run);
  out.result = out.local;
  if (!with_bucket) return out;
  try {
    out.offsite = on_bucket([&] { return bucket_->prune(plan_for(offsite, decision, description), dry_run); });
    merge_prune(out.result, *out.offsite);
  } catch (const std::exception& e) {
    out.offsite_error = bucket_text(e);
  }
  return out;
}

hb::verify_result backup_set::verify(const std::string& requested, source from) {
  any_runner& r = runner_for(requested, from);
  if (&r != &local_) return on_bucket([&] { return r.verify(requested); });
  const std::string name = resolve_name(requested);
  try {
    hb::verify_result v = local_.verify(requested);
    if (!v.valid && !v.wrong_key && !v.key_missing) v.message += offsite_copy_hint(name);
    return v;
  } catch (const hb::error& e) {
    if (e.code() != hb::errc::corrupt_backup && e.code() != hb::errc::not_a_backup) throw;
    const std::string hint = offsite_copy_hint(name);
    if (hint.empty()) throw;
    throw hb::error(e.code(), e.what() + hint);
  }
}

hb::restore_result backup_set::restore(const std::string& requested, const std::filesystem::path& database, bool force,
                                       source from) {
  any_runner& r = runner_for(requested, from);
  if (&r != &local_) return on_bucket([&] { return r.restore(requested, database, force); });
  const std::string name = resolve_name(requested);
  try {
    return local_.restore(requested, database, force);
  } catch (const hb::error& e) {
    if (e.code() != hb::errc::corrupt_backup && e.code() != hb::errc::not_a_backup) throw;
    const std::string hint = offsite_copy_hint(name);
    if (hint.empty()) throw;
    throw hb::error(e.code(), e.what() + hint);
  }
}

sync_result backup_set::sync() {
  sync_result s;
  if (!bucket_) {
    s.error = "no offsite copy is configured (HONE_R2_* is not set)";
    return s;
  }
  auto local = local_.list();  // newest first
  std::map<std::string, hb::backup_info> offsite;
  try {
    for (auto& b : on_bucket([&] { return bucket_->list(); })) offsite.emplace(b.name, std::move(b));
  } catch (const std::exception& e) {
    s.error = "cannot list the bucket: " + bucket_text(e);
    s.bucket_failed = true;
  }
  for (auto it = local.rbegin(); it != local.rend(); ++it) {
    if (!it->problem.empty()) continue;  // not a backup: never copied
    const auto there = offsite.find(it->name);
    if (!s.error.empty()) {
      if (there == offsite.end()) s.missing.push_back(it->name);
      continue;
    }
    try {
      if (there != offsite.end()) {
        if (same_bytes(*it, there->second))
          ++s.already_offsite;
        else
          s.conflicts.push_back(it->name);  // never overwritten
        continue;
      }
      try {
        io_.upload(it->name, *it);
        s.uploaded.push_back(it->name);
      } catch (const hb::error& e) {
        if (e.code() != hb::errc::already_exists) throw;
        // Uploaded meanwhile by another process, or planted: the same bytes or a conflict.
        auto now = offsite_entry(it->name);
        if (!now) throw;
        if (same_bytes(*it, *now))
          ++s.already_offsite;
        else
          s.conflicts.push_back(it->name);
      }
    } catch (const std::exception& e) {
      s.error = (there == offsite.end() ? "uploading " : "comparing ") + it->name + " failed: " + bucket_text(e);
      s.bucket_failed = true;
      if (there == offsite.end()) s.missing.push_back(it->name);
    }
  }
  if (!s.conflicts.empty()) {
    std::string names;
    for (const auto& n : s.conflicts) names += (names.empty() ? "" : ", ") + n;
    const std::string c = std::to_string(s.conflicts.size()) + " name" + (s.conflicts.size() == 1 ? "" : "s") +
                          " in the bucket hold" + (s.conflicts.size() == 1 ? "s" : "") +
                          " other bytes than the local backup" + (s.conflicts.size() == 1 ? "" : "s") + " (" + names +
                          "); nothing was overwritten, so " + (s.conflicts.size() == 1 ? "it is" : "they are") +
                          " not offsite";
    s.error = s.error.empty() ? c : s.error + "; " + c;
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
    warn("backup " + c.info.name + " is kept in the local folder only: " +
         (c.offsite->conflict
              ? c.offsite->error
              : "its upload to the bucket failed: " + c.offsite->error + " (the next cycle uploads it)"));
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
