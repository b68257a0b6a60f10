// `hone backup pin NAME` / `hone backup unpin NAME`: keep a backup from every prune, or let
// prune delete it again (core/pins.hpp).
#include "cli/commands/commands.hpp"

#include "core/runner_factory.hpp"

#include <cstdio>

namespace hone_app {

int cmd_pin(const backup_args& a, bool pin) {
  auto backups = make_backups(std::filesystem::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  const std::string name = backups.resolve_name(backups.named(a.name));
  const bool changed = backups.pin(name, pin);
  if (a.json) {
    print_json(json{{"name", name}, {"pinned", pin}, {"changed", changed}});
  } else if (pin) {
    std::printf(
        changed ? "Pinned %s: no prune deletes it ('hone backup unpin' lets it go)\n" : "%s was pinned already\n",
        name.c_str());
  } else {
    std::printf(changed ? "Unpinned %s: prune may delete it again\n" : "%s was not pinned\n", name.c_str());
  }
  return exit_ok;
}

}  // namespace hone_app
