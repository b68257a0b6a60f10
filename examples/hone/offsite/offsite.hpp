// The offsite copy (README "Offsite copy: Cloudflare R2, AWS S3 and other S3 servers"): with
// HONE_R2_* set, every backup is kept in the local folder and in an S3-compatible bucket.
// backup_set is what the CLI, the API and the scheduler work with: the local runner, and the
// bucket's when one is configured, behind one set of operations that say where each backup
// is. runner_factory.cpp makes it; nothing here names a policy.
#pragma once

#include "config/offsite_settings.hpp"
#include "core/any_runner.hpp"

#include <hone/backup.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// The name of each place in list output and in "from".
inline constexpr std::string_view local_place = "local";
inline constexpr std::string_view offsite_place = "r2";

/// The name that stands for the newest backup (show, verify, restore); reserved.
inline constexpr std::string_view latest_name = "latest";

/// Where verify and restore read a backup: the local copy when there is one, else the
/// bucket's (any), or only one of them.
enum class source { any, local, offsite };

/// "local" or "r2" (--from, "from"); throws usage_error for anything else, and for "r2" when
/// no bucket is configured.
source parse_source(std::string_view text, bool offsite_configured);

/// A backup and the places that hold it ("local", "r2"); `info` is the local copy's when there
/// is one. The bucket counts as a place of a local backup only when its object of that name
/// holds the same bytes (same size and SHA-256); one that holds other bytes is a conflict:
/// "r2" is not among the locations and `offsite_conflict` is set.
struct located_backup {
  hb::backup_info info;
  std::vector<std::string> locations;
  bool offsite_conflict = false;
  bool pinned = false;  ///< hone backup pin: kept by every prune (pins.hpp)
};

/// What became of a new backup's upload.
struct offsite_upload {
  bool uploaded = false;
  bool conflict = false;  ///< the bucket holds other bytes under the name (nothing was overwritten)
  std::string location;   ///< the object's URL when uploaded
  std::string error;      ///< why not, when not
};

struct created_backup {
  hb::backup_info info;
  std::optional<offsite_upload> offsite;  ///< set when a bucket is configured
};

struct listed_backups {
  std::vector<located_backup> backups;  ///< newest first, each once
  std::string offsite_error;            ///< the bucket could not be listed (only local ones are shown)
};

struct removed_backup {
  std::string name;
  std::vector<std::string> locations;  ///< where it was deleted
};

/// What prune did. The policy is applied once to the union of both places (each backup once,
/// by name): what it keeps is kept in every place, the rest is deleted from every place, so a
/// backup deleted from one place is never uploaded again and deleted again.
struct pruned_backups {
  hb::prune_result result;                  ///< both places: a name appears once
  hb::prune_result local;                   ///< what was deleted and kept in the local folder
  std::optional<hb::prune_result> offsite;  ///< ... in the bucket (unset: no bucket, or it failed)
  std::string offsite_error;                ///< the bucket could not be pruned (the local folder was)
};

/// What sync did: the local backups the bucket lacked, uploaded in order (oldest first).
struct sync_result {
  std::vector<std::string> uploaded;
  std::size_t already_offsite = 0;     ///< local backups the bucket already had (same bytes)
  std::vector<std::string> missing;    ///< those still missing when an upload failed
  std::vector<std::string> conflicts;  ///< names the bucket holds with other bytes (not overwritten)
  std::string error;                   ///< empty when every backup is in the bucket
  bool bucket_failed = false;          ///< the bucket failed (not only conflicts)
};

/// What the backup set needs of the two places besides their runners.
struct offsite_io {
  /// Copies the local backup NAME (whose content `info` describes) into the bucket and returns
  /// the object's URL; throws (hone::backup::error, or any std::exception) on failure, and
  /// already_exists_error when the bucket has the name.
  std::function<std::string(const std::string& name, const hb::backup_info& info)> upload;
  /// Hex SHA-256 of a local backup (cached by path, size, modification time and inode).
  std::function<std::string(const hb::backup_info& local)> local_sha256;
  /// Hex SHA-256 of the bucket's object NAME: its checked record, else read once.
  std::function<std::string(const std::string& name)> offsite_sha256;
};

class backup_set {
 public:
  /// Backups in the local folder `dir` only (`local` is its runner).
  backup_set(any_runner local, std::filesystem::path dir);
  /// Backups in the local folder and in the bucket.
  backup_set(any_runner local, std::filesystem::path dir, any_runner bucket, offsite_io io);

  bool has_offsite() const noexcept { return bucket_.has_value(); }

  /// The name a new backup called `requested` gets; invalid_name_error for "latest" (reserved,
  /// see named) and for what the runner refuses.
  std::string backup_name(std::string_view requested) const;
  std::string resolve_name(std::string_view requested) const { return local_.resolve_name(requested); }
  /// `requested`, or for "latest" the name of the newest backup anywhere (not_found_error when
  /// there is none).
  std::string named(const std::string& requested);
  /// Pins (or unpins) a backup (pins.hpp): pinning needs the backup (not_found_error); unpinning
  /// a name that is neither pinned nor a backup is not_found_error too. False when it already was so.
  bool pin(const std::string& requested, bool pinned);

  /// Creates the backup in the local folder, then uploads it. A failed upload keeps the local
  /// backup and is reported in `offsite` (not thrown).
  created_backup create(std::optional<std::string> requested = std::nullopt);
  /// Every backup once, newest first, with where it is.
  listed_backups list();
  /// One backup and where it is (both places asked); not_found_error when in neither.
  located_backup get(const std::string& requested);
  /// Whether `from` holds the backup: not_found_error otherwise (no other place is asked when
  /// the local copy will do).
  void require(const std::string& requested, source from);
  /// Deletes the backup from every place that holds it; not_found_error when in none.
  removed_backup remove(const std::string& requested);
  /// Applies the policy to the union of the backups of the local folder and of the bucket, and
  /// deletes what it does not keep from each place. Pinned backups are kept ("pinned") and not
  /// counted by the policy; a pins file that cannot be read stops the prune before any deletion. When the bucket cannot
  /// be listed, the local folder is pruned on its own (and offsite_error says why the bucket was not).
  pruned_backups prune(const hb::keep_calendar& policy, bool dry_run = false);
  /// A damaged local copy's result names the bucket's copy (--from r2) when there is one.
  hb::verify_result verify(const std::string& requested, source from = source::any);
  hb::restore_result restore(const std::string& requested, const std::filesystem::path& database, bool force,
                             source from = source::any);
  /// Uploads the local backups the bucket lacks (oldest first); stops at the first failed
  /// upload. A name the bucket holds with other bytes is a conflict: reported, never
  /// overwritten, and the sync fails.
  sync_result sync();
  /// The names of `local` whose object of the same name in `offsite` holds other bytes.
  /// Throws (a bucket error) when an object cannot be read to compare it.
  std::vector<std::string> conflicts(const std::vector<hb::backup_info>& local,
                                     const std::vector<hb::backup_info>& offsite);

  /// The local runner's clock (for the scheduler).
  any_runner::clock_ref clock() { return local_.clock(); }
  /// The local folder's backups only (for the scheduler: no request to the bucket).
  std::vector<hb::backup_info> list_local() { return local_.list(); }
  /// The bucket's backups only; throws hone::backup::error when it cannot be listed, and
  /// usage_error when no bucket is configured.
  std::vector<hb::backup_info> list_offsite();

 private:
  any_runner& runner_for(const std::string& name, source from);
  /// True when the bucket's object `offsite` holds the bytes of the local backup `local`.
  bool same_bytes(const hb::backup_info& local, const hb::backup_info& offsite);
  /// The bucket's entry of NAME, or nullopt when it has none.
  std::optional<hb::backup_info> offsite_entry(const std::string& name);
  /// " (the offsite bucket holds a copy: ... --from r2)" when it holds NAME, else "".
  std::string offsite_copy_hint(const std::string& name);
  /// What the policy keeps of `local` and `offsite` together, with the reasons, by name.
  std::map<std::string, std::vector<std::string>> decide(const hb::keep_calendar& policy,
                                                         const std::set<std::string>& pins,
                                                         const std::vector<hb::backup_info>& local,
                                                         const std::vector<hb::backup_info>& offsite);

  any_runner local_;
  std::filesystem::path dir_;
  std::optional<any_runner> bucket_;
  offsite_io io_;
};

/// What the built-in scheduler runs each cycle: create (uploading), then sync, then prune in
/// both places. Failures of the bucket are logged as warnings and never fail the cycle: the
/// local backup is what the schedule guarantees.
class scheduled_backups {
 public:
  /// Told of each failure of the bucket: operation ("upload", "prune") and message.
  using failure_fn = std::function<void(const std::string& operation, const std::string& message)>;
  explicit scheduled_backups(backup_set& set, hb::log_fn log = {}, failure_fn failed = {})
      : set_(set), log_(std::move(log)), failed_(std::move(failed)) {}
  hb::backup_info create();
  std::vector<hb::backup_info> list() { return set_.list_local(); }
  hb::prune_result prune(const hb::keep_calendar& policy);
  any_runner::clock_ref clock() { return set_.clock(); }

 private:
  void warn(const std::string& m) const;
  void failed(const std::string& operation, const std::string& message) const;
  backup_set& set_;
  hb::log_fn log_;
  failure_fn failed_;
};

}  // namespace hone_app
