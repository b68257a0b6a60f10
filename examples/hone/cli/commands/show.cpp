// `hone backup show NAME`: one backup.
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "core/runner_factory.hpp"

#include <cstdio>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_show(const backup_args& a) {
  auto backups = make_backups(fs::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  const located_backup found = backups.get(backups.named(a.name));
  const hb::backup_info& b = found.info;
  if (a.json) {
    print_json(backup_json(found, backups.has_offsite()));
    return exit_ok;
  }
  std::printf("Backup %s\n", b.name.c_str());
  print_backup_details(b);
  if (backups.has_offsite())
    std::printf("  where:         %s%s\n", places_text(found.locations).c_str(),
                found.offsite_conflict ? " (the offsite bucket holds other bytes under this name: a conflict)" : "");
  std::printf("  encrypted:     %s\n", b.problem.empty() ? yes_no(b.encrypted).c_str() : "?");
  std::printf("  compressed:    %s\n", b.problem.empty() ? compressed_text(b, true).c_str() : "?");
  std::printf("  pinned:        %s\n", yes_no(found.pinned).c_str());
  if (!b.problem.empty()) std::fprintf(stderr, "warning: %s\n", b.problem.c_str());
  return exit_ok;
}

}  // namespace hone_app
