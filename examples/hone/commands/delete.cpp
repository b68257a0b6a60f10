// `hone backup delete NAME`: delete one backup.
#include "commands.hpp"

#include "../runner_factory.hpp"

#include <cstdio>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_delete(const backup_args& a) {
  auto runner = make_runner(fs::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  const std::string name = runner.remove(a.name);
  if (a.json)
    print_json(delete_json(name));
  else
    std::printf("Deleted %s\n", name.c_str());
  return exit_ok;
}

}  // namespace hone_app
