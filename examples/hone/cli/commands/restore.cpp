// `hone backup restore NAME`: replace the database with a backup (the current one is kept).
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"

#include <cstdio>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_restore(const backup_args& a) {
  const fs::path db = resolve_database(a.db);
  const fs::path dir = resolve_backup_dir(a.dir);
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto backups = make_backups(db, key, dir, progress.observer(), a.check, a.allow_foreign);
  const source from = a.from.empty() ? source::any : parse_source(a.from, backups.has_offsite());
  const std::string name = backups.resolve_name(backups.named(a.name));
  backups.require(name, from);
  const auto made = make_private_folders(db.parent_path());  // every folder the program creates is owner-only
  hb::restore_result r;
  try {
    r = backups.restore(name, db, a.force, from);
  } catch (...) {
    remove_empty_folders(made);  // a refused restore leaves nothing behind
    throw;
  }
  progress.finish();
  if (a.json) {
    print_json(restore_json(r));
    return exit_ok;
  }
  std::printf("Restored %s to %s\n", r.backup_name.c_str(), r.database.string().c_str());
  if (!r.pre_restore_copy.empty())
    std::printf("  the previous database was kept as %s\n", r.pre_restore_copy.string().c_str());
  std::printf("Restart the Hone server if it is running, so that every connection uses the restored database.\n");
  return exit_ok;
}

}  // namespace hone_app
