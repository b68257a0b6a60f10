// `hone backup list`: every backup, newest first, and the pre-restore copies beside the database.
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "core/runner_factory.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

std::size_t real_backups(const std::vector<located_backup>& all) {
  return static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [](const auto& b) { return b.info.problem.empty(); }));
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
  auto backups = make_backups(fs::path(), hb::database_key::none(), dir);
  const listed_backups listed = backups.list();
  const auto& all = listed.backups;
  const bool offsite = backups.has_offsite();
  // The bucket could not be listed: the local backups are shown, and the exit code says the
  // list is incomplete.
  auto offsite_status = [&] {
    if (listed.offsite_error.empty()) return static_cast<int>(exit_ok);
    std::fprintf(stderr, "error: cannot list the offsite bucket (only the local backups are shown): %s\n",
                 listed.offsite_error.c_str());
    return static_cast<int>(exit_failure);
  };
  const bool conflicts = std::any_of(all.begin(), all.end(), [](const auto& b) { return b.offsite_conflict; });
  if (a.json) {
    print_json(list_json(all, offsite));
    for (const auto& b : all)
      if (b.offsite_conflict)
        std::fprintf(stderr, "warning: %s: the offsite bucket holds other bytes under this name (a conflict)\n",
                     b.info.name.c_str());
    return conflicts ? static_cast<int>(exit_failure) : offsite_status();
  }
  const std::size_t real = real_backups(all);
  if (all.empty()) {
    std::printf("No backups in %s%s\n", dir.string().c_str(), offsite ? " or in the offsite bucket" : "");
  } else {
    std::vector<hb::backup_info> infos;
    std::vector<std::string> where;
    for (const auto& b : all) {
      infos.push_back(b.info);
      if (offsite) where.push_back(places_text(b.locations) + (b.offsite_conflict ? ", r2 (conflict)" : ""));
    }
    print_backup_table(stdout, infos, where);
    if (stdout_is_terminal()) {
      std::uint64_t total = 0;
      for (const auto& b : all)
        if (b.info.problem.empty()) total += b.info.size;
      const std::size_t junk = all.size() - real;
      std::printf("\n%zu backup%s, %s in %s%s\n", real, real == 1 ? "" : "s", human_size(total).c_str(),
                  dir.string().c_str(),
                  junk == 0 ? ""
                            : ("; " + std::to_string(junk) + (junk == 1 ? " file is" : " files are") +
                               " named like a backup but not one (not counted)")
                                  .c_str());
    }
    for (const auto& b : all)
      if (!b.info.problem.empty())
        std::fprintf(stderr, "warning: %s: %s\n", b.info.name.c_str(), b.info.problem.c_str());
      else if (!b.info.owner.empty())
        std::fprintf(stderr, "note: %s belongs to %s\n", b.info.name.c_str(), b.info.owner.c_str());
  }
  for (const auto& b : all)
    if (b.offsite_conflict)
      std::fprintf(stderr,
                   "warning: %s: the offsite bucket holds other bytes under this name (a conflict): this backup is "
                   "not offsite\n",
                   b.info.name.c_str());
  print_pre_restore_copies(a.db);
  const int rc = offsite_status();
  return conflicts ? static_cast<int>(exit_failure) : rc;
}

}  // namespace hone_app
