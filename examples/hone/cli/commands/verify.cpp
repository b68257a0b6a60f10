// `hone backup verify NAME`: decompress a backup and check it with the key.
#include "cli/commands/commands.hpp"

#include "cli/output.hpp"
#include "core/log.hpp"
#include "core/runner_factory.hpp"
#include "monitoring/status_report.hpp"

#include <cstdio>
#include <string>

namespace hone_app {

namespace fs = std::filesystem;

int cmd_verify(const backup_args& a) {
  const fs::path dir = resolve_backup_dir(a.dir);
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto backups = make_backups(fs::path(), key, dir, progress.observer(), a.check, a.allow_foreign);
  const source from = a.from.empty() ? source::any : parse_source(a.from, backups.has_offsite());
  const std::string name = backups.resolve_name(backups.named(a.name));
  backups.require(name, from);  // "Backup not found" before any key work is reported
  require_temp_folder();
  hb::verify_result v = backups.verify(name, from);
  progress.finish();
  record_verify(dir, v, std::chrono::system_clock::now());  // for `hone backup status`
  if (!v.valid)
    return failed_with(a, verify_json(v),
                       v.key_missing ? "key_required"
                       : v.wrong_key ? "wrong_key"
                                     : "invalid_backup",
                       v.key_missing ? "Backup " + v.name +
                                           " is encrypted, but HONE_DB_KEY is not set; it cannot be verified without it"
                                     : "Backup " + v.name + " failed verification: " + program_message(v.message));
  if (a.json) print_json(verify_json(v));
  if (!a.json) {
    const char* what = a.check == hb::check_level::full    ? "integrity checks passed"
                       : a.check == hb::check_level::quick ? "quick check passed"
                                                           : "it opens and its counts read; integrity not checked";
    std::printf("Backup %s is valid (%s)\n", v.name.c_str(), what);
    std::printf("  accounts:      %s\n", count_text(v.counts["accounts"], "accounts").c_str());
    std::printf("  transactions:  %s\n", count_text(v.counts["transactions"], "transactions").c_str());
    std::printf("  subscriptions: %s\n",
                (v.counts["subscriptions"] ? std::to_string(*v.counts["subscriptions"]) + " active"
                                           : count_text(v.counts["subscriptions"], "subscriptions"))
                    .c_str());
    std::printf("  encrypted:     %s\n", yes_no(v.encrypted).c_str());
  }
  return exit_ok;
}

}  // namespace hone_app
