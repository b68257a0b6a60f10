// `hone backup create`: back up the database.
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "core/backup_format.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"

#include <cstdio>
#include <optional>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_create(const backup_args& a) {
  const fs::path db = resolve_database(a.db);
  const fs::path dir = resolve_backup_dir(a.dir);
  log_debug("database: " + db.string() + ", backup folder: " + dir.string());
  const backup_format format = a.format.empty() ? current_backup_format() : *parse_backup_format(a.format);
  require_compact_recipient(format);
  scoped_backup_format chosen(format);
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto backups = make_backups(db, key, dir, progress.observer());
  std::optional<std::string> name;
  if (a.name_given) name = backups.backup_name(a.name);  // an invalid name before any work
  require_temp_folder();
  const created_backup created = backups.create(name);
  if (a.pin) backups.pin(created.info.name, true);
  const hb::backup_info& b = created.info;
  progress.finish();
  const bool upload_failed = created.offsite && !created.offsite->uploaded;
  // A plain database while a key is configured: the backup is made (it is what the database
  // holds), but nobody should believe it is encrypted.
  const bool plain_with_key = !b.encrypted && key_configured();
  const std::string plain_warning = "warning: the database " + db.string() +
                                    " is not encrypted, but HONE_DB_KEY is set: this backup is not encrypted either";
  if (a.json) {
    if (!upload_failed) print_json(create_json(b, created.offsite));
    if (plain_with_key) std::fprintf(stderr, "%s\n", plain_warning.c_str());
  } else {
    std::printf("Created backup %s\n", b.name.c_str());
    print_backup_details(b);
    std::printf("  accounts:      %s\n", count_text(b.counts["accounts"], "accounts").c_str());
    std::printf("  transactions:  %s\n", count_text(b.counts["transactions"], "transactions").c_str());
    std::printf("  subscriptions: %s\n",
                (b.counts["subscriptions"] ? std::to_string(*b.counts["subscriptions"]) + " active"
                                           : count_text(b.counts["subscriptions"], "subscriptions"))
                    .c_str());
    std::printf("  encrypted:     %s\n", yes_no(b.encrypted).c_str());
    std::printf("  compressed:    %s\n", compressed_text(b, true).c_str());
    std::printf("  format:        %s\n", std::string(format_of_backup(b.name)).c_str());
    if (created.offsite && created.offsite->uploaded)
      std::printf("  offsite:       uploaded to %s\n", created.offsite->location.c_str());
    if (a.pin) std::printf("  pinned:        yes (no prune deletes it)\n");
    if (plain_with_key) std::printf("%s\n", plain_warning.c_str());
  }
  if (!b.counts["accounts"] && !b.counts["transactions"] && !b.counts["subscriptions"])
    std::fprintf(stderr,
                 "warning: %s has none of Hone's tables (accounts, transactions, subscriptions); is --db "
                 "(or HONE_DB_PATH) the right database?\n",
                 db.string().c_str());
  if (!upload_failed) return exit_ok;
  const std::string kept = "the backup " + b.name + " is kept in " + dir.string() + ", but ";
  return failed_with(a, create_json(b, created.offsite), "offsite_failed",
                     created.offsite->conflict
                         ? kept + created.offsite->error
                         : kept + "its upload to the offsite bucket failed: " + created.offsite->error +
                               "\n(run 'hone backup sync' to upload it once the bucket "
                               "can be reached)");
}

}  // namespace hone_app
