#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <hone/backup.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <utility>

namespace hone_app {

namespace {

std::string version_text() {
  std::string v = hb::sqlcipher_version();
  return std::string("hone ") + HONE_VERSION + " (hone-backup; " + (v.empty() ? "SQLite" : "SQLCipher " + v) + ")";
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, command_line& out) {
  CLI::App app{
      "hone: encrypted, compressed, consistent backups of the Hone database.\n"
      "The database key comes from HONE_DB_KEY (never from the command line).",
      "hone"};
  app.set_version_flag("--version", version_text());
  app.set_help_all_flag("--help-all", "Show help for every command");
  app.add_flag("-v,--verbose", out.verbose, "Debug logging to stderr");
  app.require_subcommand(1);
  app.fallthrough();  // --verbose after a subcommand works too
  app.footer(
      "Environment: HONE_DB_KEY (passphrase), HONE_DB_PATH, HONE_BACKUP_DIR, HONE_API_TOKEN,\n"
      "HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION. Exit codes: 0 ok, 1 failed, 2 usage error.");

  backup_args& ba = out.backup;
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

  auto* dash = app.add_subcommand("dashboard", "Show the counts of the live database");
  dash->add_option("--db", out.dashboard.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  dash->add_flag("--json", out.dashboard.json, "Print JSON");

  auto* serve = app.add_subcommand("serve", "Run the REST API and the built-in backup scheduler");
  serve->add_option("--host", out.serve.host, "Address to listen on (default 127.0.0.1)");
  serve->add_option("--port", out.serve.port, "Port (default 3000; 0 picks a free one)")->check(CLI::Range(0, 65535));
  serve->add_option("--db", out.serve.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  serve->add_option("--dir", out.serve.dir, "Backup folder (default: $HONE_BACKUP_DIR, else the platform data folder)");

  auto* dbcmd = app.add_subcommand("db", "Database maintenance");
  auto* migrate = dbcmd->add_subcommand(
      "migrate", "Upgrade a SQLCipher 3 database to the SQLCipher 4 format (the original is kept)");
  migrate->add_option("--db", out.migrate.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");

  demo_spec& spec = out.demo_db.spec;
  auto* demo = app.add_subcommand("demo-db", "Create a demo Hone database (never overwrites one)");
  demo->add_option("--db", out.demo_db.db, "Where (default: $HONE_DB_PATH, else <data folder>/hone.db)");
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
  ba.name_given = name_opt->count() > 0;
  ba.keep_given = keep_opt->count() > 0;
  const std::pair<CLI::App*, command> commands[] = {{create, command::backup_create},
                                                    {list, command::backup_list},
                                                    {show, command::backup_show},
                                                    {verify, command::backup_verify},
                                                    {restore, command::backup_restore},
                                                    {del, command::backup_delete},
                                                    {prune, command::backup_prune},
                                                    {dash, command::dashboard},
                                                    {demo, command::demo_db},
                                                    {migrate, command::db_migrate},
                                                    {serve, command::serve}};
  for (auto [sub, cmd] : commands)
    if (sub->parsed()) {
      out.cmd = cmd;
      return std::nullopt;
    }
  std::fputs(app.help().c_str(), stderr);
  return exit_usage;
}

}  // namespace hone_app
