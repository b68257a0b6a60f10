// `hone backup delete NAME`: delete one backup.
#include "cli/commands/commands.hpp"

#include "core/runner_factory.hpp"

#include <cstdio>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_delete(const backup_args& a) {
  auto backups = make_backups(fs::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  const removed_backup r = backups.remove(a.name);
  if (a.json)
    print_json(delete_json(r, backups.has_offsite()));
  else if (backups.has_offsite())
    std::printf("Deleted %s (from: %s)\n", r.name.c_str(), places_text(r.locations).c_str());
  else
    std::printf("Deleted %s\n", r.name.c_str());
  return exit_ok;
}

}  // namespace hone_app
