#include "monitoring/scheduled_job.hpp"

#include "core/log.hpp"
#include "core/runner_factory.hpp"

#include <string>
#include <string_view>

namespace hone_app {

scheduled_job::scheduled_job(const hb::schedule_config& cfg, const std::filesystem::path& database,
                             const hb::database_key& key, const std::filesystem::path& backup_dir, monitor& monitoring,
                             std::chrono::seconds bucket_limit) {
  const hb::log_fn log_line = [](hb::log_level l, const std::string& m) { log(l, "scheduler: " + m); };
  deadline_ = std::make_shared<bucket_deadline>(bucket_limit, "HONE_R2_CYCLE_TIMEOUT");
  backups_ = std::make_unique<backup_set>(make_backups(
      database, key, backup_dir,
      [&monitoring](std::string_view place) { return monitoring.observer({}, std::string(place)); },
      monitoring.upload_counter(), hb::check_level::full, false, deadline_));
  runner_ = std::make_unique<scheduled_backups>(*backups_, log_line,
                                                [this, &monitoring](const std::string& op, const std::string& m) {
                                                  if (!bucket_stop_reason().empty()) return;
                                                  ++bucket_failures_;
                                                  if (deadline_->expired() && deadline_reported_.exchange(true)) return;
                                                  monitoring.failed(op, m);
                                                });
  cycle_ = std::make_unique<scheduled_cycle>(*runner_, *deadline_, deadline_reported_);
  scheduler_ = std::make_unique<hb::backup_scheduler<scheduled_cycle>>(*cycle_, cfg.interval, cfg.policy, log_line);
  scheduler_->on_cycle([&monitoring](const hb::cycle_outcome& o) { monitoring.cycle(o); });
  scheduler_->on_next_run([&monitoring](hb::time_point due) { monitoring.next_run(due); });
}

}  // namespace hone_app
