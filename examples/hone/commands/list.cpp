// `hone backup list`: every backup, newest first, and the pre-restore copies beside the database.
#include "commands.hpp"

#include "../output.hpp"
#include "../runner_factory.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

std::size_t real_backups(const std::vector<hb::backup_info>& all) {
  return static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [](const auto& b) { return b.problem.empty(); }));
}

/// The line naming the pre-restore copies beside the database, so that they do not pile up
/// unseen (nothing deletes them automatically).
void print_pre_restore_copies(const std::string& db_opt) {
  fs::path db;
  try {
    db = resolve_database(db_opt);
  } catch (const usage_error&) {
    return;  // no default database location: nothing to look at
  }
  const auto copies = find_pre_restore_copies(db);
  if (copies.names.empty()) return;
  std::string names;
  for (const auto& n : copies.names) names += (names.empty() ? "" : ", ") + n;
  std::printf("%zu pre-restore cop%s beside %s (%s, not deleted automatically): %s\n", copies.names.size(),
              copies.names.size() == 1 ? "y" : "ies", db.string().c_str(), human_size(copies.bytes).c_str(),
              names.c_str());
}

}  // namespace

int cmd_list(const backup_args& a) {
  const fs::path dir = resolve_backup_dir(a.dir);
  auto runner = make_runner(fs::path(), hb::database_key::none(), dir);
  auto all = runner.list();
  if (a.json) {
    print_json(list_json(all));
    return exit_ok;
  }
  const std::size_t real = real_backups(all);
  if (all.empty()) {
    std::printf("No backups in %s\n", dir.string().c_str());
  } else {
    print_backup_table(stdout, all);
    if (stdout_is_terminal()) {
      std::uint64_t total = 0;
      for (const auto& b : all)
        if (b.problem.empty()) total += b.size;
      const std::size_t junk = all.size() - real;
      std::printf("\n%zu backup%s, %s in %s%s\n", real, real == 1 ? "" : "s", human_size(total).c_str(),
                  dir.string().c_str(),
                  junk == 0 ? ""
                            : ("; " + std::to_string(junk) + (junk == 1 ? " file is" : " files are") +
                               " named like a backup but not one (not counted)")
                                  .c_str());
    }
    for (const auto& b : all)
      if (!b.problem.empty()) std::fprintf(stderr, "warning: %s: %s\n", b.name.c_str(), b.problem.c_str());
  }
  print_pre_restore_copies(a.db);
  return exit_ok;
}

}  // namespace hone_app
