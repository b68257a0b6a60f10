#include "core/runner_factory.hpp"

#include "core/app.hpp"
#include "core/hone_database.hpp"
#include "core/log.hpp"

#include <hone/backup/destinations/s3_destination.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
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
  ropts.name_prefix = "hone-";  // hone-2024-01-15-143022.db.gz, as the description names them
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
  using runner = hb::BackupRunner<hb::sqlcipher_exporter, hb::gzip_compressor, Destination, hb::system_clock>;
  return runner(hb::sqlcipher_exporter(c.database, std::move(eopts)), hb::gzip_compressor{}, std::move(destination),
                hb::system_clock{}, std::move(ropts));
}

template <class Destination>
any_runner runner_with(const runner_config& c, Destination destination) {
  return any_runner(typed_runner_with(c, std::move(destination)));
}

using steady = std::chrono::steady_clock;

std::mutex g_stop_mutex;
std::atomic<bool> g_stopping{false};
std::string g_stop_reason;  ///< guarded by g_stop_mutex

/// stop_bucket_requests, else the deadline's answer (either may be absent).
std::string interruption(bucket_deadline* deadline) {
  if (g_stopping) return bucket_stop_reason();
  return deadline ? deadline->check() : std::string();
}

hb::s3_options s3_options_of(const bucket_settings& b, const fs::path& lock_file,
                             std::shared_ptr<bucket_deadline> deadline = nullptr) {
  hb::s3_options o;
  o.endpoint = b.endpoint;
  o.bucket = b.bucket;
  o.region = b.region;
  o.access_key_id = b.access_key_id;
  o.secret_access_key = b.secret_access_key;
  o.prefix = b.prefix;
  o.max_attempts = 4;  // about 2 s of retries when the endpoint does not answer at all
  o.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(b.request_timeout);  // HONE_R2_TIMEOUT
  // A million keys: far more than max_list_bytes lets a listing hold, so it only ends an endless
  // listing sooner (every look-up of a backup's records is a listing of its own).
  o.max_list_pages = 1000;
  // Serializes uploads (and the abort of stale ones) with the other hone processes using
  // this backup folder (the CLI next to `hone serve`).
  o.lock_file = lock_file;
  o.log = [](std::string_view m) { log_warn(m); };
  // SIGTERM of `hone serve` and the operation's own time limit abandon a request that hangs.
  o.interrupt = [deadline = std::move(deadline)] { return interruption(deadline.get()); };
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

/// The shared listings of the bucket (share_bucket_listings): one listing at a time, on a
/// thread of its own, its result given to every caller that waited for it.
class listing_service {
 public:
  /// Starts sharing with `set` (whose bucket runner lists directly) and `deadline` (each
  /// listing's limit, and its comparison with the local backups).
  void enable(backup_set set, std::shared_ptr<bucket_deadline> deadline) {
    std::lock_guard lk(m_);
    if (runner_) return;
    runner_.emplace(std::move(set));
    deadline_ = std::move(deadline);
  }
  bool enabled() {
    std::lock_guard lk(m_);
    return runner_.has_value();
  }

  /// A listing that began after the last change of the bucket made through this process: the
  /// one in progress, or a new one. Waits for it until `interrupt` answers (with its reason).
  std::vector<hb::backup_info> fresh(const std::function<std::string()>& interrupt) {
    std::unique_lock lk(m_);
    if (!runner_) throw hb::remote_error("the server is stopping: the bucket is not listed any more");
    for (;;) {
      if (!running_) {
        start_locked();
      } else if (started_generation_ != generation_) {  // it may miss a change: wait for its end, then list again
        wait_locked(lk, interrupt, [&] { return !running_; });
        continue;
      }
      const std::uint64_t want = started_;
      wait_locked(lk, interrupt, [&] { return done_ >= want; });
      if (error_) std::rethrow_exception(error_);
      return last_.backups;
    }
  }

  /// latest_bucket_listing.
  bucket_listing latest(std::chrono::milliseconds wait, std::chrono::milliseconds fresh_for) {
    std::unique_lock lk(m_);
    bucket_listing out;
    if (!runner_) return out;
    const bool fresh = last_.completed && done_generation_ == generation_ && steady::now() - finished_ < fresh_for;
    if (!fresh && !running_ && !g_stopping) {
      try {
        start_locked();
      } catch (const hb::error&) {
        // No thread for it: the last completed listing is all there is.
      }
    }
    if (running_) {
      const std::uint64_t want = started_;
      cv_.wait_for(lk, wait, [&] { return done_ >= want; });
    }
    out = last_;
    out.shared = true;
    out.in_progress = running_;
    return out;
  }

  /// The bucket was changed through this process: listings that began before do not show it.
  void changed() {
    std::lock_guard lk(m_);
    ++generation_;
  }

  void end() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !running_; });
    if (worker_.joinable()) worker_.join();
    runner_.reset();
    deadline_.reset();
  }

 private:
  void start_locked() {
    if (g_stopping) throw hb::remote_error(bucket_stop_reason());
    if (worker_.joinable()) worker_.join();  // the previous listing has ended (running_ is false)
    deadline_->restart();
    const std::uint64_t id = started_ + 1, generation = generation_;
    try {
      worker_ = std::thread([this, id, generation] { run(id, generation); });
    } catch (const std::system_error& e) {
      throw hb::remote_error(std::string("cannot start a thread to list the bucket: ") + e.what());
    }
    running_ = true;
    started_ = id;
    started_generation_ = generation;
  }

  void run(std::uint64_t id, std::uint64_t generation) {
    bucket_listing r;
    std::exception_ptr error;
    try {
      r.backups = runner_->list_offsite();
      // For the status: the names the bucket holds with other bytes than the local backups.
      try {
        r.conflicts = runner_->conflicts(runner_->list_local(), r.backups);
      } catch (const std::exception& e) {
        r.conflicts_error = e.what();
      }
    } catch (const hb::error& e) {
      error = std::current_exception();
      r.error = program_message(e);
    } catch (const std::exception& e) {
      // Whatever the bucket's answer made the runner throw, it is the bucket's failure.
      error = std::make_exception_ptr(hb::remote_error(std::string("listing the bucket failed: ") + e.what()));
      r.error = e.what();
    }
    r.completed = true;
    r.finished_at = std::chrono::system_clock::now();
    std::lock_guard lk(m_);
    last_ = std::move(r);
    error_ = error;
    done_ = id;
    done_generation_ = generation;
    finished_ = steady::now();
    running_ = false;
    cv_.notify_all();
  }

  template <class Pred>
  void wait_locked(std::unique_lock<std::mutex>& lk, const std::function<std::string()>& interrupt, Pred done) {
    while (!done()) {
      if (std::string why = interrupt ? interrupt() : interruption(nullptr); !why.empty())
        throw hb::remote_error("waiting for the bucket's listing was abandoned: " + why);
      cv_.wait_for(lk, std::chrono::milliseconds(200));
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::optional<backup_set> runner_;
  std::shared_ptr<bucket_deadline> deadline_;
  std::thread worker_;
  bool running_ = false;
  std::uint64_t started_ = 0, done_ = 0;  ///< ids of the last listing started and completed
  std::uint64_t generation_ = 0, started_generation_ = 0, done_generation_ = 0;
  bucket_listing last_;
  std::exception_ptr error_;  ///< the last completed listing's failure
  steady::time_point finished_{};
};

listing_service& shared_listings() {
  static listing_service service;
  return service;
}

/// Tells the shared listings of a change of the bucket when it goes out of scope (whether the
/// change succeeded or not: a failed one may have changed something).
struct change_notice {
  bool shared;
  ~change_notice() {
    if (shared) shared_listings().changed();
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
    return shared_listings().fresh([d = deadline_] { return interruption(d.get()); });
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

std::string bucket_deadline::check() {
  const std::int64_t now = steady::now().time_since_epoch().count();
  std::int64_t due = due_.load();
  if (due == 0) {
    const std::int64_t armed = now + std::chrono::duration_cast<steady::duration>(limit_).count();
    if (due_.compare_exchange_strong(due, armed)) return {};
    // Another thread armed it meanwhile: `due` holds its value.
  }
  if (now < due) return {};
  return "the bucket's part of this operation was abandoned after " + setting_ + " (" +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit_).count()) + " s)";
}

bool bucket_deadline::expired() const noexcept {
  const std::int64_t due = due_.load();
  return due != 0 && steady::now().time_since_epoch().count() >= due;
}

void stop_bucket_requests(const std::string& reason) {
  {
    std::lock_guard lk(g_stop_mutex);
    if (g_stopping) return;
    g_stop_reason = reason;
  }
  g_stopping = true;
}

std::string bucket_stop_reason() {
  if (!g_stopping) return {};
  std::lock_guard lk(g_stop_mutex);
  return g_stop_reason;
}

void share_bucket_listings(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                           hb::observer_fn observer, std::chrono::milliseconds limit) {
  const auto& offsite = offsite_settings();
  if (!offsite) return;
  auto deadline = std::make_shared<bucket_deadline>(limit, "HONE_R2_API_TIMEOUT");
  // Made before the listings are shared: its own lists the bucket directly.
  backup_set set = make_backups(
      database, key, backup_dir, [&observer](std::string_view) { return observer; }, {}, hb::check_level::full, false,
      deadline);
  shared_listings().enable(std::move(set), deadline);
}

void end_shared_bucket_listings() { shared_listings().end(); }

bucket_listing latest_bucket_listing(std::chrono::milliseconds wait, std::chrono::milliseconds fresh_for) {
  return shared_listings().latest(wait, fresh_for);
}

any_runner make_runner(const runner_config& config) {
  // One branch per kind of destination.
  struct make {
    const runner_config& c;
    any_runner operator()(const local_folder& f) const { return runner_with(c, hb::local_directory(f.path)); }
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
  if (!offsite) return backup_set(make_runner(c));
  hb::local_directory local(backup_dir);
  hb::s3_destination bucket(s3_options_of(*offsite, offsite_lock_file(backup_dir), deadline));
  any_runner local_runner = make_runner(c);
  c.observer = observers ? observers(offsite_place) : hb::observer_fn();
  const bool shared = deadline && shared_listings().enabled();
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
  return backup_set(std::move(local_runner), std::move(bucket_runner), std::move(io));
}

backup_set make_backups(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                        hb::observer_fn observer, hb::check_level check, bool allow_foreign) {
  return make_backups(
      database, key, backup_dir, [&observer](std::string_view) { return observer; }, {}, check, allow_foreign);
}

}  // namespace hone_app
