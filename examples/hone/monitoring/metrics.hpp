// The Prometheus metrics of `hone serve` (GET /metrics, README "Monitoring"), fed by the
// runners' observer events: every create, verify, restore, prune and delete of the API and of
// the scheduler is counted and timed, by the place it ran in ("local", or "r2" for the bucket of
// the offsite copy: a prune with an offsite copy prunes both places, and each counts once).
// Thread-safe: API requests and the scheduler share one.
#pragma once

#include <hone/backup.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// What /metrics reports about one place backups are kept.
struct location_snapshot {
  std::string location;
  bool listed = false;  ///< false: the listing failed and the gauges are left out
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> newest_size;
  std::optional<hb::time_point> newest_time;
};

class metrics_registry {
 public:
  /// Upper bounds (seconds) of the duration histogram's buckets, before +Inf.
  static constexpr std::array<double, 13> buckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600};
  static constexpr std::array<hb::event::operation, 5> operations = {
      hb::event::operation::create, hb::event::operation::verify, hb::event::operation::restore,
      hb::event::operation::prune, hb::event::operation::remove};

  /// Records one finished (or failed) operation in `location` that took `seconds` and ended at
  /// `at`.
  void record(hb::event::operation op, bool success, double seconds, hb::time_point at,
              std::string_view location = "local");
  /// Records an operation refused for its request (a name that is invalid, not found or taken):
  /// result="refused", apart from the failures an alert watches, and out of the durations.
  void record_refused(hb::event::operation op, std::string_view location = "local");

  /// An observer that times each operation (started -> finished/failed) of the runner it is
  /// given to, the runner of `location`, and records it here (a failure that is a refusal, see
  /// is_refusal, as refused); then passes every event on to `next` (may be empty). The series of a location are
  /// reported from its first observer on.
  hb::observer_fn observer(hb::observer_fn next = {}, std::string location = "local");

  /// Records one upload to the offsite bucket.
  void record_upload(bool success, double seconds, hb::time_point at);
  /// A function that records the uploads it is told of.
  std::function<void(bool ok, double seconds)> upload_counter();
  /// From now on /metrics reports the upload families (at zero until the first upload).
  void count_uploads();
  /// From now on /metrics reports the operation series of `location` (at zero until it runs one).
  void add_location(std::string_view location);

  /// When the next scheduled backup is due (nullopt: not known, e.g. no scheduler).
  void set_next_run(std::optional<hb::time_point> t);

  /// The text exposition format (version 0.0.4) of every family.
  std::string render(const std::vector<location_snapshot>& locations) const;

  /// The counts and durations of one kind of operation.
  struct op_stats {
    std::array<std::uint64_t, 2> runs{};                        ///< [0] failure, [1] success
    std::uint64_t refused = 0;                                  ///< see record_refused
    std::array<std::uint64_t, buckets.size()> bucket_counts{};  ///< not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    std::optional<hb::time_point> last_success;
    void add(bool success, double seconds, hb::time_point at);
  };

 private:
  struct place_stats {
    std::string location;
    std::array<op_stats, operations.size()> ops{};
  };
  /// The stats of `location`, added when new (m_ held).
  place_stats& place(std::string_view location);

  mutable std::mutex m_;
  std::vector<place_stats> places_{place_stats{"local", {}}};
  std::optional<op_stats> uploads_;  ///< set once uploads are counted
  std::optional<hb::time_point> next_run_;
};

/// Whether an error refuses a request rather than reports a failed operation: an invalid name
/// or argument, a backup not found, a name or database that exists already (400, 404, 409).
bool is_refusal(hb::errc code);

/// A number as Prometheus writes it: shortest form that reads back exactly, "+Inf", "NaN".
std::string prometheus_number(double v);

/// A label value escaped for the exposition format (backslash, double quote, newline).
std::string prometheus_label(const std::string& v);

}  // namespace hone_app
