// `hone backup show NAME`: one backup.
#include "commands.hpp"

#include "../output.hpp"
#include "../runner_factory.hpp"

#include <cstdio>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_show(const backup_args& a) {
  auto runner = make_runner(fs::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  hb::backup_info b = runner.get(a.name);
  if (a.json) {
    print_json(backup_json(b));
    return exit_ok;
  }
  std::printf("Backup %s\n", b.name.c_str());
  print_backup_details(b);
  std::printf("  encrypted:     %s\n", b.problem.empty() ? yes_no(b.encrypted).c_str() : "?");
  std::printf("  compressed:    %s\n", b.problem.empty() ? compressed_text(b, true).c_str() : "?");
  if (!b.problem.empty()) std::fprintf(stderr, "warning: %s\n", b.problem.c_str());
  return exit_ok;
}

}  // namespace hone_app
