// `hone db migrate`: upgrade a SQLCipher 3 database to the SQLCipher 4 format.
#include "cli/commands/commands.hpp"

#include <cstdio>

namespace hone_app {

int cmd_migrate(const migrate_args& a) {
  auto r = hb::migrate_to_v4(resolve_database(a.db), load_key());
  std::printf("%s\n", r.message.c_str());
  if (r.migrated) std::printf("  original kept at %s\n", r.pre_migrate_copy.c_str());
  return exit_ok;
}

}  // namespace hone_app
