// hone: encrypted, compressed, consistent backups of the Hone database from the command line,
// over a REST API (`hone serve`) and on a schedule (HONE_BACKUP_SCHEDULE). See README.md,
// sections "The `hone` program" onwards.
#include "app.hpp"
#include "database.hpp"
#include "json.hpp"
#include "log.hpp"
#include "output.hpp"
#include "server.hpp"

#include <hone/backup.hpp>  // also brings hone::backup::detail (SQLite helpers)

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <cstring>
#include <iostream>
#include <string>

namespace {

using namespace hone_app;
namespace fs = std::filesystem;

/// Options shared by the `backup` subcommands.
struct backup_args {
  std::string dir;
  std::string db;
  std::string name;
  bool name_given = false;  ///< --name was on the command line (an empty one is an error)
  bool json = false;
  bool force = false;
  bool yes = false;
  long long keep = 7;
  bool keep_given = false;  ///< --keep was on the command line
  long long keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0, keep_yearly = 0;
  bool dry_run = false;
  hb::check_level check = hb::check_level::full;
  bool allow_foreign = false;
};

void print_json(const json& j) { std::fputs(to_text(j).c_str(), stdout); }

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string count_text(const std::optional<std::int64_t>& c, const char* table) {
  return c ? std::to_string(*c) : std::string("- (no ") + table + " table)";
}

void print_backup_details(const hb::backup_info& b) {
  std::printf("  path:          %s\n", b.path.c_str());
  std::printf("  size:          %s (%llu bytes)\n", human_size(b.size).c_str(),
              static_cast<unsigned long long>(b.size));
  std::printf("  created:       %s\n", hb::iso8601(b.created_at).c_str());
}

// ---- backup create ------------------------------------------------------------------------
int cmd_create(const backup_args& a) {
  const fs::path db = resolve_database(a.db);
  const fs::path dir = resolve_backup_dir(a.dir);
  log_debug("database: " + db.string() + ", backup folder: " + dir.string());
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto runner = make_runner(db, key, dir, progress.observer());
  std::optional<std::string> name;
  if (a.name_given) name = runner.backup_name(a.name);  // an invalid name before any work
  require_temp_folder();
  hb::backup_info b = runner.create(name);
  progress.finish();
  // A plain database while a key is configured: the backup is made (it is what the database
  // holds), but nobody should believe it is encrypted.
  const bool plain_with_key = !b.encrypted && key_configured();
  const std::string plain_warning = "warning: the database " + db.string() +
                                    " is not encrypted, but HONE_DB_KEY is set: this backup is not encrypted either";
  if (a.json) {
    print_json(create_json(b));
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
    if (plain_with_key) std::printf("%s\n", plain_warning.c_str());
  }
  if (!b.counts["accounts"] && !b.counts["transactions"] && !b.counts["subscriptions"])
    std::fprintf(stderr,
                 "warning: %s has none of Hone's tables (accounts, transactions, subscriptions); is --db "
                 "(or HONE_DB_PATH) the right database?\n",
                 db.string().c_str());
  return exit_ok;
}

// ---- backup list / show -------------------------------------------------------------------
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

// ---- backup verify ------------------------------------------------------------------------
int cmd_verify(const backup_args& a) {
  const fs::path dir = resolve_backup_dir(a.dir);
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto runner = make_runner(fs::path(), key, dir, progress.observer(), a.check, a.allow_foreign);
  const std::string name = runner.resolve_name(a.name);
  runner.get(name);  // "Backup not found" before any key work is reported
  require_temp_folder();
  hb::verify_result v = runner.verify(name);
  progress.finish();
  if (a.json) print_json(verify_json(v));
  if (!v.valid) {
    if (v.key_missing)
      std::fprintf(stderr,
                   "error: Backup %s is encrypted, but HONE_DB_KEY is not set; it cannot be verified without it\n",
                   v.name.c_str());
    else
      std::fprintf(stderr, "error: Backup %s failed verification: %s\n", v.name.c_str(),
                   program_message(v.message).c_str());
    return exit_failure;
  }
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

// ---- backup restore -----------------------------------------------------------------------
int cmd_restore(const backup_args& a) {
  const fs::path db = resolve_database(a.db);
  const fs::path dir = resolve_backup_dir(a.dir);
  const auto key = load_key();
  progress_display progress(stderr_is_terminal() && !verbose(), step_logger(dir));
  auto runner = make_runner(db, key, dir, progress.observer(), a.check, a.allow_foreign);
  const std::string name = runner.resolve_name(a.name);
  runner.get(name);
  const auto made = make_private_folders(db.parent_path());  // every folder the program creates is owner-only
  hb::restore_result r;
  try {
    r = runner.restore(name, db, a.force);
  } catch (...) {
    remove_empty_folders(made);  // a refused restore leaves nothing behind
    throw;
  }
  progress.finish();
  if (a.json) {
    print_json(restore_json(r));
    return exit_ok;
  }
  std::printf("Restored %s to %s\n", r.backup_name.c_str(), r.database.string().c_str());
  if (!r.pre_restore_copy.empty())
    std::printf("  the previous database was kept as %s\n", r.pre_restore_copy.string().c_str());
  std::printf("Restart the Hone server if it is running, so that every connection uses the restored database.\n");
  return exit_ok;
}

// ---- backup delete ------------------------------------------------------------------------
int cmd_delete(const backup_args& a) {
  auto runner = make_runner(fs::path(), hb::database_key::none(), resolve_backup_dir(a.dir));
  const std::string name = runner.remove(a.name);
  if (a.json)
    print_json(delete_json(name));
  else
    std::printf("Deleted %s\n", name.c_str());
  return exit_ok;
}

// ---- backup prune -------------------------------------------------------------------------
/// The retention policy of prune's options: --keep N alone (default 7) is keep-last; with any
/// --keep-hourly/daily/weekly/monthly/yearly, keep-last applies only when --keep is given too.
hb::keep_calendar prune_policy(const backup_args& a) {
  // The calendar options are checked by the parser (whole numbers of at least 1).
  if (a.keep < 1) throw usage_error("--keep must be at least 1 (got " + std::to_string(a.keep) + ")");
  hb::keep_calendar p{.hourly = a.keep_hourly,
                      .daily = a.keep_daily,
                      .weekly = a.keep_weekly,
                      .monthly = a.keep_monthly,
                      .yearly = a.keep_yearly};
  const bool calendar = p.hourly + p.daily + p.weekly + p.monthly + p.yearly > 0;
  p.last = !calendar || a.keep_given ? a.keep : 0;
  return p;
}

void print_prune_plan(std::FILE* to, const hb::prune_result& r) {
  for (const auto& k : r.retained) {
    std::string why;
    for (const auto& reason : k.reasons) why += (why.empty() ? "" : ", ") + reason;
    std::fprintf(to, "  keep    %s  (%s)\n", k.name.c_str(), why.c_str());
  }
}

int cmd_prune(const backup_args& a) {
  const hb::keep_calendar policy = prune_policy(a);
  const fs::path dir = resolve_backup_dir(a.dir);
  auto runner = make_runner(fs::path(), hb::database_key::none(), dir);
  if (!a.yes && !a.dry_run) {
    if (!stdin_is_terminal())
      throw usage_error(
          "prune deletes backups and needs confirmation, but stdin is not a terminal; add -y to "
          "prune without asking (e.g. in cron or systemd), or --dry-run to see what it would delete");
    const hb::prune_result plan = runner.prune(policy, true);
    for (const auto& n : plan.skipped_names)
      std::fprintf(stderr, "Skipping %s: not a backup, so it is never deleted nor counted.\n", n.c_str());
    if (plan.deleted_names.empty()) {
      std::printf("Nothing to prune: %zu backup%s in %s, all kept (%s).\n", plan.retained_count,
                  plan.retained_count == 1 ? "" : "s", dir.string().c_str(), policy.describe().c_str());
      return exit_ok;
    }
    const std::size_t doomed = plan.deleted_names.size();
    const std::string what =
        doomed == 1 ? "This backup would be deleted" : "These " + std::to_string(doomed) + " backups would be deleted";
    std::fprintf(stderr, "%s (%s, in %s):\n", what.c_str(), policy.describe().c_str(), dir.string().c_str());
    for (const auto& n : plan.deleted_names) std::fprintf(stderr, "  delete  %s\n", n.c_str());
    print_prune_plan(stderr, plan);
    std::fprintf(stderr, "Delete %s (%zu, %s)? [y/N] ", doomed == 1 ? "it" : "them", doomed,
                 human_size(plan.bytes_freed).c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer)) answer.clear();
    while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "YES" && answer != "Yes") {
      std::fprintf(stderr, "Cancelled; nothing was deleted.\n");
      return exit_failure;
    }
  }
  hb::prune_result r = runner.prune(policy, a.dry_run);
  if (a.json) {
    print_json(prune_json(r));
    return exit_ok;
  }
  std::printf("%s %zu backup%s (%s freed), kept %zu (%s).\n", r.dry_run ? "Would delete" : "Deleted", r.deleted_count,
              r.deleted_count == 1 ? "" : "s", human_size(r.bytes_freed).c_str(), r.retained_count, r.policy.c_str());
  for (const auto& n : r.deleted_names) std::printf("  %s %s\n", r.dry_run ? "would delete" : "deleted", n.c_str());
  print_prune_plan(stdout, r);
  if (!r.skipped_names.empty())
    std::printf("Skipped %zu file%s named like a backup but not one (never deleted, not counted):\n",
                r.skipped_names.size(), r.skipped_names.size() == 1 ? "" : "s");
  for (const auto& n : r.skipped_names) std::printf("  skipped %s\n", n.c_str());
  return exit_ok;
}

// ---- dashboard ----------------------------------------------------------------------------
int cmd_dashboard(const std::string& db_opt, bool as_json) {
  const fs::path db = resolve_database(db_opt);
  const auto key = load_key();
  dashboard d = read_dashboard(db, key);
  if (as_json) {
    print_json(json{{"database", db.string()},
                    {"encrypted", d.encrypted},
                    {"size", d.size},
                    {"accounts", count_json(d.counts["accounts"])},
                    {"transactions", count_json(d.counts["transactions"])},
                    {"subscriptions", count_json(d.counts["subscriptions"])}});
    return exit_ok;
  }
  std::printf("Database:              %s\n", db.string().c_str());
  std::printf("Size:                  %s%s\n", human_size(d.size).c_str(),
              d.encrypted ? ", encrypted" : ", not encrypted");
  std::printf("Accounts:              %s\n", count_text(d.counts["accounts"], "accounts").c_str());
  std::printf("Transactions:          %s\n", count_text(d.counts["transactions"], "transactions").c_str());
  std::printf("Active subscriptions:  %s\n", count_text(d.counts["subscriptions"], "subscriptions").c_str());
  return exit_ok;
}

// ---- demo-db ------------------------------------------------------------------------------
int cmd_demo_db(const std::string& db_opt, const demo_spec& spec) {
  const fs::path db = resolve_database(db_opt);
  const auto key = load_key();
  create_demo_database(db, key, spec);
  std::printf("Created demo database %s\n", db.string().c_str());
  std::printf("  %d accounts, %d transactions, %d active subscriptions%s\n", spec.accounts, spec.transactions,
              spec.subscriptions, spec.subscriptions > 0 ? " (+1 cancelled)" : "");
  std::printf("  %s\n", key.empty() ? "not encrypted (HONE_DB_KEY is not set)"
                                    : "encrypted with the key derived from HONE_DB_KEY (SQLCipher 4)");
  return exit_ok;
}

std::string version_text() {
  std::string v = hb::detail::sqlcipher_version();
  return std::string("hone ") + HONE_VERSION + " (hone-backup; " + (v.empty() ? "SQLite" : "SQLCipher " + v) + ")";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hone: encrypted, compressed, consistent backups of the Hone database.\n"
      "The database key comes from HONE_DB_KEY (never from the command line).",
      "hone"};
  app.set_version_flag("--version", version_text());
  app.set_help_all_flag("--help-all", "Show help for every command");
  bool verbose_flag = false;
  app.add_flag("-v,--verbose", verbose_flag, "Debug logging to stderr");
  app.require_subcommand(1);
  app.fallthrough();  // --verbose after a subcommand works too
  app.footer(
      "Environment: HONE_DB_KEY (passphrase), HONE_DB_PATH, HONE_BACKUP_DIR, HONE_API_TOKEN,\n"
      "HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION. Exit codes: 0 ok, 1 failed, 2 usage error.");

  backup_args ba;
  auto* backup = app.add_subcommand("backup", "Create, list, verify, restore, delete and prune backups");
  backup->require_subcommand(1);
  auto add_dir = [&](CLI::App* c) {
    c->add_option("--dir", ba.dir, "Backup folder (default: $HONE_BACKUP_DIR, else the platform data folder)");
  };
  auto add_db = [&](CLI::App* c) {
    c->add_option("--db", ba.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  };
  auto add_json = [&](CLI::App* c) { c->add_flag("--json", ba.json, "Print the REST API's JSON instead"); };
  auto add_allow_foreign = [&](CLI::App* c) {
    c->add_flag("--allow-foreign", ba.allow_foreign,
                "Accept a backup of a database without Hone's tables (accounts, transactions, subscriptions)");
  };
  auto add_check = [&](CLI::App* c) {
    c->add_option("--check", ba.check,
                  "What to examine: full (PRAGMA integrity_check: every page, every index against its table; "
                  "the default), quick (PRAGMA quick_check: every page, several times faster), readable "
                  "(the key opens it and the counts read)")
        ->transform(
            CLI::CheckedTransformer(std::map<std::string, hb::check_level>{{"full", hb::check_level::full},
                                                                           {"quick", hb::check_level::quick},
                                                                           {"readable", hb::check_level::readable}}));
  };

  auto* create = backup->add_subcommand("create", "Create a backup of the database");
  auto* name_opt =
      create->add_option("--name", ba.name, "Backup name (default hone-YYYY-MM-DD-HHMMSS.db.gz; .db.gz is appended)");
  add_dir(create);
  add_db(create);
  add_json(create);

  auto* list = backup->add_subcommand("list", "List backups, newest first");
  add_dir(list);
  list->add_option(
      "--db", ba.db,
      "Database whose pre-restore copies are reported (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  add_json(list);

  auto* show = backup->add_subcommand("show", "Show one backup");
  show->add_option("name", ba.name, "Backup name")->required();
  add_dir(show);
  add_json(show);

  auto* verify = backup->add_subcommand("verify", "Check that a backup is complete and opens with HONE_DB_KEY");
  verify->add_option("name", ba.name, "Backup name")->required();
  add_dir(verify);
  add_json(verify);
  add_check(verify);
  add_allow_foreign(verify);

  auto* restore = backup->add_subcommand("restore", "Restore a backup over the database");
  restore->add_option("name", ba.name, "Backup name")->required();
  restore->add_flag("--force", ba.force, "Overwrite the existing database (it is kept as DB.pre-restore-TIME)");
  add_dir(restore);
  add_db(restore);
  add_json(restore);
  add_check(restore);
  add_allow_foreign(restore);

  auto* del = backup->add_subcommand("delete", "Delete one backup");
  del->add_option("name", ba.name, "Backup name")->required();
  add_dir(del);
  add_json(del);

  auto* prune = backup->add_subcommand("prune", "Delete old backups, keeping the newest ones");
  auto* keep_opt =
      prune->add_option("--keep", ba.keep, "Keep the N newest backups (default 7 when no --keep-* rule is given)");
  prune->add_option("--keep-hourly", ba.keep_hourly, "Keep the newest backup of each of the last N hours")
      ->check(CLI::PositiveNumber);
  prune->add_option("--keep-daily", ba.keep_daily, "Keep the newest backup of each of the last N days")
      ->check(CLI::PositiveNumber);
  prune->add_option("--keep-weekly", ba.keep_weekly, "Keep the newest backup of each of the last N ISO weeks")
      ->check(CLI::PositiveNumber);
  prune->add_option("--keep-monthly", ba.keep_monthly, "Keep the newest backup of each of the last N months")
      ->check(CLI::PositiveNumber);
  prune->add_option("--keep-yearly", ba.keep_yearly, "Keep the newest backup of each of the last N years")
      ->check(CLI::PositiveNumber);
  prune->add_flag("--dry-run", ba.dry_run, "Show what would be deleted and why each backup is kept; delete nothing");
  prune->add_flag("-y,--yes", ba.yes, "Do not ask for confirmation");
  add_dir(prune);
  add_json(prune);

  std::string db_opt;
  bool dash_json = false;
  auto* dash = app.add_subcommand("dashboard", "Show the counts of the live database");
  dash->add_option("--db", db_opt, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  dash->add_flag("--json", dash_json, "Print JSON");

  server_options so;
  std::string serve_db, serve_dir;
  int port = 3000;
  auto* serve = app.add_subcommand("serve", "Run the REST API and the built-in backup scheduler");
  serve->add_option("--host", so.host, "Address to listen on (default 127.0.0.1)");
  serve->add_option("--port", port, "Port (default 3000; 0 picks a free one)")->check(CLI::Range(0, 65535));
  serve->add_option("--db", serve_db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  serve->add_option("--dir", serve_dir, "Backup folder (default: $HONE_BACKUP_DIR, else the platform data folder)");

  std::string migrate_db;
  auto* dbcmd = app.add_subcommand("db", "Database maintenance");
  auto* migrate = dbcmd->add_subcommand(
      "migrate", "Upgrade a SQLCipher 3 database to the SQLCipher 4 format (the original is kept)");
  migrate->add_option("--db", migrate_db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");

  demo_spec spec;
  std::string demo_db;
  auto* demo = app.add_subcommand("demo-db", "Create a demo Hone database (never overwrites one)");
  demo->add_option("--db", demo_db, "Where (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  demo->add_option("--accounts", spec.accounts, "Number of accounts (default 3)")->check(CLI::Range(0, 1000));
  demo->add_option("--transactions", spec.transactions, "Number of transactions (default 500)")
      ->check(CLI::Range(0, 10000000));
  demo->add_option("--subscriptions", spec.subscriptions, "Active subscriptions (default 6)")
      ->check(CLI::Range(0, 10000));

  if (argc <= 1) {
    std::fputs(app.help().c_str(), stderr);
    return exit_usage;
  }
  // "hone backup create": the command the user was typing, for "see '... --help'".
  auto command_path = [&app] {
    std::string where = "hone";
    for (CLI::App* c = &app;;) {
      auto subs = c->get_subcommands();
      if (subs.empty()) break;
      c = subs.front();
      where += " " + c->get_name();
    }
    return where;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    // Unexpected values are not echoed: one may be a passphrase typed in the wrong place (the
    // key is read from HONE_DB_KEY only), and this line may end up in a log.
    std::string shown;
    std::size_t hidden = 0;
    for (const auto& a : app.remaining(true)) {
      if (a.size() > 1 && a[0] == '-')
        shown += (shown.empty() ? "" : ", ") + a.substr(0, a.find('='));
      else
        ++hidden;
    }
    std::string msg = shown;
    if (hidden > 0)
      msg += (shown.empty() ? "" : " and ") + std::to_string(hidden) + " value" + (hidden == 1 ? "" : "s") +
             " (values are not shown; the database key is read from HONE_DB_KEY only)";
    std::fprintf(stderr, "error: unexpected argument: %s (see '%s --help')\n", msg.c_str(), command_path().c_str());
    return exit_usage;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see '%s --help')\n", e.what(), command_path().c_str());
    return exit_usage;
  }
  set_verbose(verbose_flag);
  ba.name_given = name_opt->count() > 0;
  ba.keep_given = keep_opt->count() > 0;
  // One-shot commands clean up their temporary files when interrupted; `serve` shuts down
  // gracefully on its own.
  std::optional<interrupt_cleanup> cleanup;
  if (!serve->parsed()) cleanup.emplace();

  // Runs the command; a result that could not be written (disk full, closed pipe) is an error.
  auto finish = [](int rc) {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      std::fprintf(stderr, "error: cannot write the output: %s\n", std::strerror(errno));
      return rc == exit_ok ? static_cast<int>(exit_failure) : rc;
    }
    return rc;
  };

  try {
    if (create->parsed()) return finish(cmd_create(ba));
    if (list->parsed()) return finish(cmd_list(ba));
    if (show->parsed()) return finish(cmd_show(ba));
    if (verify->parsed()) return finish(cmd_verify(ba));
    if (restore->parsed()) return finish(cmd_restore(ba));
    if (del->parsed()) return finish(cmd_delete(ba));
    if (prune->parsed()) return finish(cmd_prune(ba));
    if (dash->parsed()) return finish(cmd_dashboard(db_opt, dash_json));
    if (demo->parsed()) return finish(cmd_demo_db(demo_db, spec));
    if (migrate->parsed()) {
      auto r = hb::migrate_to_v4(resolve_database(migrate_db), load_key());
      std::printf("%s\n", r.message.c_str());
      if (r.migrated) std::printf("  original kept at %s\n", r.pre_migrate_copy.c_str());
      return finish(exit_ok);
    }
    if (serve->parsed()) {
      so.port = static_cast<unsigned short>(port);
      so.database = resolve_database(serve_db);
      so.backup_dir = resolve_backup_dir(serve_dir);
      return run_server(so);
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return exit_usage;
  } catch (const hb::error& e) {
    std::fprintf(stderr, "error: %s\n", program_message(e).c_str());
    if (stderr_is_terminal())
      if (auto hint = hint_for(e); !hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
    return exit_code_for(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return exit_failure;
  }
  std::fputs(app.help().c_str(), stderr);
  return exit_usage;
}
