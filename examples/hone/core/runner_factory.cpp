#include "core/runner_factory.hpp"

#include "config/config.hpp"
#include "core/app.hpp"
#include "core/backup_format.hpp"
#include "core/hone_database.hpp"
#include "core/log.hpp"

#include <hone/backup/destinations/s3_destination.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>

#include <sys/stat.h>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// The runner of `destination`, with the exporter, compressor and clock every runner shares.
template <class Destination>
auto typed_runner_with(const runner_config& c, Destination destination) {
  hb::sqlcipher_exporter::options eopts;
  eopts.key = c.key;
  eopts.counts = hone_count_queries();
  eopts.check = c.check;
  // The runner makes its private folders in TMPDIR and reports them (and restore's temp file)
  // through temp_files, so that an interrupted command removes them; those of a killed one are
  // removed by the next operation (they carry a lock of their owner). A TMPDIR that cannot be
  // used is reported by require_temp_folder() before any work.
  hb::runner_options ropts;
  ropts.temp_directory = temp_base();
  ropts.name_prefix = std::string(backup_name_prefix);
  ropts.observer = c.observer;
  ropts.temp_files = [](const fs::path& p, bool created) {
    if (created)
      register_temp_file(p);
    else
      unregister_temp_file(p);
  };
  if (!c.allow_foreign)
    ropts.accept_backup = [](const hb::check_result& r) -> std::string {
      if (r.counts["accounts"] || r.counts["transactions"] || r.counts["subscriptions"]) return {};
      return "it holds none of Hone's tables (accounts, transactions, subscriptions), so it is not a backup of a "
             "Hone database; use --allow-foreign (API: \"allow_foreign\": true) to use it anyway";
    };
  // Reads and writes both formats; writes the one chosen for this thread (backup_format.hpp).
  using runner = hb::BackupRunner<hb::sqlcipher_page_exporter, hb::age_compressor<hb::gzip_compressor>, Destination,
                                  hb::system_clock>;
  return runner(hb::sqlcipher_page_exporter(c.database, std::move(eopts)),
                hb::age_compressor<hb::gzip_compressor>(age_settings(current_backup_format())), std::move(destination),
                hb::system_clock{}, std::move(ropts));
}

template <class Destination>
any_runner runner_with(const runner_config& c, Destination destination) {
  return any_runner(typed_runner_with(c, std::move(destination)));
}

hb::s3_options s3_options_of(const bucket_settings& b, const fs::path& lock_file,
                             std::shared_ptr<bucket_deadline> deadline = nullptr) {
  hb::s3_options o = b.s3_options();
  // Serializes uploads (and the abort of stale ones) with the other hone processes using
  // this backup folder (the CLI next to `hone serve`).
  o.lock_file = lock_file;
  o.log = [](std::string_view m) { log_warn(m); };
  // SIGTERM of `hone serve` and the operation's own time limit abandon a request that hangs.
  o.interrupt = [deadline = std::move(deadline)] { return bucket_interruption(deadline.get()); };
  return o;
}

/// The lock file of the bucket's operations: in the backup folder when it exists (else the
/// lock is within this process only).
fs::path offsite_lock_file(const fs::path& backup_dir) {
  std::error_code ec;
  return fs::is_directory(backup_dir, ec) ? backup_dir / ".hone-offsite.lock" : fs::path();
}

/// Hex SHA-256 of the local backup at `path`, read through `open` at most once per version of
/// the file: remembered by path, size, modification time and inode (so `hone serve` does not
/// read its backups again at every listing).
std::string local_sha256(const fs::path& path, const std::function<std::unique_ptr<hb::reader>()>& open) {
  struct version {
    dev_t dev;
    ino_t ino;
    off_t size;
    std::int64_t mtime_ns;
    bool operator==(const version&) const = default;
  };
  auto version_of = [&](version& v) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    v = {st.st_dev, st.st_ino, st.st_size,
         static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    return true;
  };
  static std::mutex m;
  static std::map<std::string, std::pair<version, std::string>> cache;
  version before{};
  const bool known = version_of(before);
  if (known) {
    std::lock_guard lk(m);
    if (auto it = cache.find(path.string()); it != cache.end() && it->second.first == before) return it->second.second;
  }
  auto in = open();
  std::string sha = hb::sha256_of(*in);
  version after{};
  if (known && version_of(after) && after == before) {
    std::lock_guard lk(m);
    if (cache.size() > 100000) cache.clear();  // a bound, far above any backup folder
    cache[path.string()] = {before, sha};
  }
  return sha;
}

/// Copies the local backup `name` into the bucket as it is (no new export), with what the
/// local copy's content is, so that the bucket's list needs no read per backup; then makes
/// sure the bucket holds the same bytes (the SHA-256 of its checked record, or of the object
/// read back): an object with other bytes is deleted and the upload fails. `uploads` (may be
/// empty) is told how it went, unless the bucket already had the name.
std::string upload(hb::local_directory& local, hb::s3_destination& bucket, const std::string& name,
                   const hb::backup_info& info, const upload_observer& uploads) {
  const auto t0 = std::chrono::steady_clock::now();
  auto tell = [&](bool ok) {
    if (uploads) uploads(ok, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  try {
    auto guard = bucket.lock();
    const std::string sent = local_sha256(info.path, [&] { return local.open(name); });
    auto in = local.open(name);
    const hb::stored_entry stored = bucket.store(name, [&](hb::writer& out) {
      std::array<std::byte, 256 * 1024> buf;
      while (const std::size_t n = in->read(buf)) out.write(std::span<const std::byte>(buf.data(), n));
    });
    const std::string held = stored.sha256.empty() ? bucket.content_sha256(name) : stored.sha256;
    if (held != sent) {
      try {
        bucket.remove(name);  // made by this upload, under the lock: no later step may count it
      } catch (const std::exception& e) {
        log_warn("cannot delete the altered object " + name + " from the bucket: " + e.what());
      }
      throw hb::remote_error("the offsite bucket stored other bytes than were uploaded for " + name + " (SHA-256 " +
                             held.substr(0, 16) + "... instead of " + sent.substr(0, 16) +
                             "...); the object was deleted");
    }
    try {
      bucket.annotate(name, hb::content_info{info.encrypted, info.deflated});
    } catch (const std::exception&) {
      // Only saves list() a read; the object is complete without it.
    }
    log_debug("upload " + name + ": stored as " + stored.location + ", SHA-256 checked");
    tell(true);
    return stored.location;
  } catch (const hb::error& e) {
    if (e.code() != hb::errc::already_exists) tell(false);
    throw;
  } catch (const std::exception&) {
    tell(false);
    throw;
  }
}

/// Tells the shared listings of a change of the bucket when it goes out of scope (whether the
/// change succeeded or not: a failed one may have changed something).
struct change_notice {
  bool shared;
  ~change_notice() {
    if (shared) bucket_changed();
  }
};

/// The bucket's runner of an operation with a deadline: its list() is the shared listing,
/// waited for within the operation's deadline; what changes the bucket tells the shared listings.
template <class Runner>
class shared_listing_runner : public Runner {
 public:
  shared_listing_runner(Runner r, std::shared_ptr<bucket_deadline> deadline)
      : Runner(std::move(r)), deadline_(std::move(deadline)) {}
  std::vector<hb::backup_info> list() {
    return fresh_bucket_listing([d = deadline_] { return bucket_interruption(d.get()); });
  }
  // Whatever their parameters: a dry run also counts as a change (it only costs a new listing).
  template <class... Args>
  auto remove(Args&&... args) {
    change_notice notice{true};
    return Runner::remove(std::forward<Args>(args)...);
  }
  template <class... Args>
  auto prune(Args&&... args) {
    change_notice notice{true};
    return Runner::prune(std::forward<Args>(args)...);
  }

 private:
  std::shared_ptr<bucket_deadline> deadline_;
};

}  // namespace

hb::local_directory backup_folder(const fs::path& dir, const hb::database_key& key) {
  const bool shared_setting = backup_dir_shared_from_environment();
  // Commands that read no database (list, show) have no key, but HONE_DB_KEY tells the same.
  const bool encrypted = !key.empty() || key_configured();
  hb::local_directory folder(dir, {.shared = encrypted || shared_setting});
  if (!folder.options().shared) return folder;
  if (const std::string why = folder.sharing(); !why.empty()) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      log_warn("backup folder " + dir.string() + ": " + why + "; accepted, " +
               (!encrypted ? std::string("as HONE_BACKUP_DIR_SHARED=1 says (anyone who can write there can plant "
                                         "a backup)")
                           : std::string("as the backups are encrypted (a file planted there does not open with "
                                         "HONE_DB_KEY)")));
    });
  }
  return folder;
}

any_runner make_runner(const runner_config& config) {
  // One branch per kind of destination.
  struct make {
    const runner_config& c;
    any_runner operator()(const local_folder& f) const { return runner_with(c, backup_folder(f.path, c.key)); }
    any_runner operator()(const bucket_settings& b) const {
      return runner_with(c, hb::s3_destination(s3_options_of(b, fs::path())));
    }
  };
  return std::visit(make{config}, config.destination);
}

any_runner make_runner(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                       hb::observer_fn observer, hb::check_level check, bool allow_foreign) {
  return make_runner(runner_config{.database = database,
                                   .key = key,
                                   .destination = local_folder{backup_dir},
                                   .observer = std::move(observer),
                                   .check = check,
                                   .allow_foreign = allow_foreign});
}

backup_set make_backups(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                        const observer_for& observers, upload_observer uploads, hb::check_level check,
                        bool allow_foreign) {
  return make_backups(database, key, backup_dir, observers, std::move(uploads), check, allow_foreign, nullptr);
}

backup_set make_backups(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                        const observer_for& observers, upload_observer uploads, hb::check_level check,
                        bool allow_foreign, std::shared_ptr<bucket_deadline> deadline) {
  runner_config c{.database = database,
                  .key = key,
                  .destination = local_folder{backup_dir},
                  .observer = observers ? observers(local_place) : hb::observer_fn(),
                  .check = check,
                  .allow_foreign = allow_foreign};
  const auto& offsite = offsite_settings();
  if (!offsite) return backup_set(make_runner(c), backup_dir);
  hb::local_directory local = backup_folder(backup_dir, key);
  hb::s3_destination bucket(s3_options_of(*offsite, offsite_lock_file(backup_dir), deadline));
  any_runner local_runner = make_runner(c);
  c.observer = observers ? observers(offsite_place) : hb::observer_fn();
  const bool shared = deadline && bucket_listings_shared();
  // Copies of `bucket` share the connections and the lock.
  any_runner bucket_runner =
      shared ? any_runner(shared_listing_runner(typed_runner_with(c, bucket), deadline)) : runner_with(c, bucket);
  offsite_io io;
  io.upload = [local, bucket, uploads, shared](const std::string& name, const hb::backup_info& info) mutable {
    change_notice notice{shared};
    return upload(local, bucket, name, info, uploads);
  };
  io.local_sha256 = [local](const hb::backup_info& info) {
    return local_sha256(info.path, [&] { return local.open(info.name); });
  };
  io.offsite_sha256 = [bucket](const std::string& name) { return bucket.content_sha256(name); };
  return backup_set(std::move(local_runner), backup_dir, std::move(bucket_runner), std::move(io));
}

backup_set make_backups(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                        hb::observer_fn observer, hb::check_level check, bool allow_foreign) {
  return make_backups(
      database, key, backup_dir, [&observer](std::string_view) { return observer; }, {}, check, allow_foreign);
}

}  // namespace hone_app
