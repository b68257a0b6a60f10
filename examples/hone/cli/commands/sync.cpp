// `hone backup sync`: upload the local backups the offsite bucket lacks (after an outage).
#include "cli/commands/commands.hpp"

#include "core/runner_factory.hpp"

#include <cstdio>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_sync(const backup_args& a) {
  const fs::path dir = resolve_backup_dir(a.dir);
  auto backups = make_backups(fs::path(), hb::database_key::none(), dir);
  if (!backups.has_offsite())
    throw usage_error(
        "there is no offsite bucket to sync to: set HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID, "
        "HONE_R2_SECRET_ACCESS_KEY and HONE_R2_ENDPOINT");
  const sync_result s = backups.sync();
  if (a.json) {
    if (s.error.empty()) print_json(sync_json(s));
  } else {
    for (const auto& n : s.uploaded) std::printf("Uploaded %s\n", n.c_str());
    std::printf("%zu backup%s uploaded, %zu already in the bucket", s.uploaded.size(),
                s.uploaded.size() == 1 ? "" : "s", s.already_offsite);
    if (!s.missing.empty()) std::printf(", %zu still missing", s.missing.size());
    if (!s.conflicts.empty()) std::printf(", %zu in conflict (other bytes in the bucket)", s.conflicts.size());
    std::printf(".\n");
    for (const auto& n : s.conflicts) std::printf("Conflict %s: not overwritten\n", n.c_str());
  }
  if (!s.error.empty())
    return failed_with(a, sync_json(s), s.bucket_failed ? "remote" : "offsite_conflict", "sync failed: " + s.error);
  return exit_ok;
}

}  // namespace hone_app
