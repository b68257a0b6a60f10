#include "offsite/bucket_listings.hpp"

#include "core/app.hpp"
#include "core/runner_factory.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

std::mutex g_stop_mutex;
std::atomic<bool> g_stopping{false};
std::string g_stop_reason;  ///< guarded by g_stop_mutex

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
      if (std::string why = interrupt ? interrupt() : bucket_interruption(nullptr); !why.empty())
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

std::string bucket_interruption(bucket_deadline* deadline) {
  if (g_stopping) return bucket_stop_reason();
  return deadline ? deadline->check() : std::string();
}

bool bucket_listings_shared() { return shared_listings().enabled(); }

std::vector<hb::backup_info> fresh_bucket_listing(const std::function<std::string()>& interrupt) {
  return shared_listings().fresh(interrupt);
}

void bucket_changed() { shared_listings().changed(); }

}  // namespace hone_app
