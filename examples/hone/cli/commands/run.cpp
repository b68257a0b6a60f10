// `hone backup run`: exactly one cycle of the built-in scheduler (scheduled_job), for cron and
// systemd timers: create (uploading, then syncing what the bucket lacks), prune both places by
// HONE_BACKUP_RETENTION / HONE_BACKUP_KEEP_*, the status file and the failure hook.
#include "cli/commands/commands.hpp"

#include "core/log.hpp"
#include "monitoring/failure_hook.hpp"
#include "monitoring/monitoring.hpp"
#include "monitoring/scheduled_job.hpp"
#include "offsite/offsite.hpp"

#include <chrono>
#include <cstdio>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_run(const backup_args& a) {
  const fs::path db = resolve_database(a.db);
  const fs::path dir = resolve_backup_dir(a.dir);
  hb::schedule_config cfg = schedule_from_environment();
  if (cfg.misconfigured()) throw usage_error(cfg.error);
  const bucket_time_limits limits = bucket_time_limits_from_environment();
  if (!limits.error.empty()) throw usage_error(limits.error);
  // One cycle: the interval (HONE_BACKUP_SCHEDULE, usually unset here) is never waited for.
  if (!cfg.enabled) cfg.interval = std::chrono::hours(24);
  const auto key = load_key();
  require_temp_folder();

  monitor monitoring(dir, hook_from_environment());
  if (offsite_settings()) monitoring.offsite_configured(offsite_place);
  monitoring.started();  // the cycle is recorded for `hone backup status`
  scheduled_job job(cfg, db, key, dir, monitoring, limits.cycle);
  const bool ok = job.scheduler().run_once();
  if (const int failures = job.bucket_failures(); failures > 0) {
    std::fprintf(stderr, "error: %d step(s) of the offsite copy failed (see the lines above)%s\n", failures,
                 ok ? "; the local backup was made and pruned" : "");
    return exit_failure;
  }
  return ok ? exit_ok : exit_failure;
}

}  // namespace hone_app
