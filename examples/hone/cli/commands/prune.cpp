// `hone backup prune`: delete the backups the retention policy does not keep, after asking.
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "config/config.hpp"
#include "core/runner_factory.hpp"

#include <cstdio>
#include <iostream>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// The retention policy of prune's options: --keep N is keep-last; without it,
/// keep_last_or_default (7 without --keep-hourly/daily/weekly/monthly/yearly, off with them).
hb::keep_calendar prune_policy(const backup_args& a) {
  // The calendar options are checked by the parser (whole numbers of at least 1).
  if (a.keep < 1) throw usage_error("--keep must be at least 1 (got " + std::to_string(a.keep) + ")");
  hb::keep_calendar p{.hourly = a.keep_hourly,
                      .daily = a.keep_daily,
                      .weekly = a.keep_weekly,
                      .monthly = a.keep_monthly,
                      .yearly = a.keep_yearly};
  p.last = keep_last_or_default(p, a.keep_given ? std::optional(a.keep) : std::nullopt);
  return p;
}

void print_prune_plan(std::FILE* to, const hb::prune_result& r) {
  for (const auto& k : r.retained) {
    std::string why;
    for (const auto& reason : k.reasons) why += (why.empty() ? "" : ", ") + reason;
    std::fprintf(to, "  keep    %s  (%s)\n", k.name.c_str(), why.c_str());
  }
}

/// "In the local folder: deleted 1 (NAME), kept 3 (NAME, ...)." for one place.
void print_place(std::FILE* to, const char* place, const hb::prune_result& r) {
  auto names = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  std::vector<std::string> kept;
  for (const auto& k : r.retained) kept.push_back(k.name);
  std::fprintf(to, "In the %s: %s %zu%s, kept %zu%s.\n", place, r.dry_run ? "would delete" : "deleted",
               r.deleted_names.size(), r.deleted_names.empty() ? "" : (" (" + names(r.deleted_names) + ")").c_str(),
               kept.size(), kept.empty() ? "" : (" (" + names(kept) + ")").c_str());
}

void print_places(std::FILE* to, const pruned_backups& p, bool offsite) {
  if (!offsite) return;
  print_place(to, "local folder", p.local);
  if (p.offsite) print_place(to, "offsite bucket", *p.offsite);
}

}  // namespace

int cmd_prune(const backup_args& a) {
  const hb::keep_calendar policy = prune_policy(a);
  const fs::path dir = resolve_backup_dir(a.dir);
  auto backups = make_backups(fs::path(), hb::database_key::none(), dir);
  // The bucket could not be pruned: the local folder was, and the exit code says the rest.
  auto offsite_status = [&](const pruned_backups& p) {
    if (a.json && p.offsite_error.empty()) print_json(prune_json(p, backups.has_offsite()));
    if (p.offsite_error.empty()) return static_cast<int>(exit_ok);
    return failed_with(a, prune_json(p, backups.has_offsite()), "offsite_failed",
                       std::string("the offsite bucket could not be pruned (the local folder was: ") +
                           (p.local.dry_run ? "would delete " : "deleted ") +
                           std::to_string(p.local.deleted_names.size()) + "): " + p.offsite_error);
  };
  const std::string where = dir.string() + (backups.has_offsite() ? " and the offsite bucket" : "");
  if (!a.yes && !a.dry_run) {
    if (!stdin_is_terminal())
      throw usage_error(
          "prune deletes backups and needs confirmation, but stdin is not a terminal; add -y to "
          "prune without asking (e.g. in cron or systemd), or --dry-run to see what it would delete");
    const pruned_backups planned = backups.prune(policy, true);
    if (!planned.offsite_error.empty())
      std::fprintf(stderr, "warning: the offsite bucket cannot be pruned, only the local folder: %s\n",
                   planned.offsite_error.c_str());
    const hb::prune_result& plan = planned.result;
    for (const auto& n : plan.skipped_names)
      std::fprintf(stderr, "Skipping %s: not a backup, so it is never deleted nor counted.\n", n.c_str());
    if (plan.deleted_names.empty()) {
      std::printf("Nothing to prune: %zu backup%s in %s, all kept (%s).\n", plan.retained_count,
                  plan.retained_count == 1 ? "" : "s", where.c_str(), policy.describe().c_str());
      return exit_ok;
    }
    const std::size_t doomed = plan.deleted_names.size();
    const std::string what =
        doomed == 1 ? "This backup would be deleted" : "These " + std::to_string(doomed) + " backups would be deleted";
    std::fprintf(stderr, "%s (%s, in %s):\n", what.c_str(), policy.describe().c_str(), where.c_str());
    for (const auto& n : plan.deleted_names) std::fprintf(stderr, "  delete  %s\n", n.c_str());
    print_prune_plan(stderr, plan);
    print_places(stderr, planned, backups.has_offsite());
    std::fprintf(stderr, "Delete %s (%zu, %s)? [y/N] ", doomed == 1 ? "it" : "them", doomed,
                 human_size(plan.bytes_freed).c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer)) answer.clear();
    while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "YES" && answer != "Yes") {
      std::fprintf(stderr, "Cancelled; nothing was deleted.\n");
      return exit_code_for("cancelled");
    }
  }
  const pruned_backups pruned = backups.prune(policy, a.dry_run);
  const hb::prune_result& r = pruned.result;
  if (a.json) return offsite_status(pruned);
  std::printf("%s %zu backup%s (%s freed), kept %zu (%s).\n", r.dry_run ? "Would delete" : "Deleted", r.deleted_count,
              r.deleted_count == 1 ? "" : "s", human_size(r.bytes_freed).c_str(), r.retained_count, r.policy.c_str());
  for (const auto& n : r.deleted_names) std::printf("  %s %s\n", r.dry_run ? "would delete" : "deleted", n.c_str());
  print_prune_plan(stdout, r);
  print_places(stdout, pruned, backups.has_offsite());
  if (!r.skipped_names.empty())
    std::printf("Skipped %zu file%s named like a backup but not one (never deleted, not counted):\n",
                r.skipped_names.size(), r.skipped_names.size() == 1 ? "" : "s");
  for (const auto& n : r.skipped_names) std::printf("  skipped %s\n", n.c_str());
  return offsite_status(pruned);
}

}  // namespace hone_app
