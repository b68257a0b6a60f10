#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <hone/backup.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hone_app {

namespace {

/// `hone --version`: the program, the library and the SQLCipher (and SQLite) it runs on.
std::string version_text() {
  const std::string v = hb::sqlcipher_version();
  return std::string("hone ") + HONE_VERSION + " (hone-backup " + std::string(hb::version) + "; " +
         (v.empty() ? std::string("no SQLCipher") : "SQLCipher " + v) + "; SQLite " + sqlite3_libversion() + ")";
}

/// The CLI11 description of the program, filling in a command_line.
class parser {
 public:
  explicit parser(command_line& out) : out_(out) {
    app_.set_version_flag("--version", version_text());
    app_.set_help_all_flag("--help-all", "Show help for every command");
    app_.add_flag("-v,--verbose", out_.verbose, "Debug logging to stderr (--log-level debug)");
    app_.add_option("--log-level", out_.log_level, "Lowest level logged: debug, info (default), warn or error");
    app_.require_subcommand(1);
    app_.fallthrough();  // --verbose after a subcommand works too
    app_.footer(
        "Environment: HONE_DB_KEY (passphrase), HONE_DB_PATH, HONE_BACKUP_DIR, HONE_API_TOKEN,\n"
        "HONE_METRICS_TOKEN, HONE_LOG_LEVEL, HONE_LOG_FORMAT (text, json, journal),\n"
        "HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION; offsite copy: HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID,\n"
        "HONE_R2_SECRET_ACCESS_KEY, HONE_R2_ENDPOINT (HONE_R2_PREFIX, HONE_R2_REGION).\n"
        "Exit codes: 0 ok, 1 failed, 2 usage error.");
    auto* backup = app_.add_subcommand("backup", "Create, list, verify, restore, delete and prune backups");
    backup->require_subcommand(1);
    add_backup_commands(backup);
    add_prune(backup);
    add_status(backup);
    add_other_commands();
  }

  std::optional<int> parse(int argc, char** argv);

 private:
  /// A subcommand that runs `cmd`.
  CLI::App* add(CLI::App* parent, const char* name, const char* description, command cmd) {
    CLI::App* c = parent->add_subcommand(name, description);
    commands_.emplace_back(c, cmd);
    return c;
  }

  void add_dir(CLI::App* c) {
    c->add_option("--dir", out_.backup.dir, "Backup folder (default: $HONE_BACKUP_DIR, else the platform data folder)");
  }
  void add_db(CLI::App* c) {
    c->add_option("--db", out_.backup.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
  }
  void add_json(CLI::App* c) { c->add_flag("--json", out_.backup.json, "Print the REST API's JSON instead"); }
  void add_allow_foreign(CLI::App* c) {
    c->add_flag("--allow-foreign", out_.backup.allow_foreign,
                "Accept a backup of a database without Hone's tables (accounts, transactions, subscriptions)");
  }
  void add_from(CLI::App* c) {
    c->add_option("--from", out_.backup.from,
                  "Read the backup from this place only: local (the backup folder) or r2 (the offsite bucket, "
                  "HONE_R2_*); default: the local copy, else the bucket's")
        ->check(CLI::IsMember({"local", "r2"}));
  }
  void add_check(CLI::App* c) {
    c->add_option("--check", out_.backup.check,
                  "What to examine: full (PRAGMA integrity_check: every page, every index against its table; "
                  "the default), quick (PRAGMA quick_check: every page, several times faster), readable "
                  "(the key opens it and the counts read)")
        ->transform(
            CLI::CheckedTransformer(std::map<std::string, hb::check_level>{{"full", hb::check_level::full},
                                                                           {"quick", hb::check_level::quick},
                                                                           {"readable", hb::check_level::readable}}));
  }

  /// backup create, list, show, verify, restore, delete.
  void add_backup_commands(CLI::App* backup) {
    auto* create = add(backup, "create", "Create a backup of the database", command::backup_create);
    name_opt_ = create->add_option("--name", out_.backup.name,
                                   "Backup name (default hone-YYYY-MM-DD-HHMMSS.db.gz; .db.gz is appended)");
    create
        ->add_option("--format", out_.backup.format,
                     "gzip (NAME.db.gz, the encrypted database file gzipped; the default) or compact "
                     "(NAME.db.gz.age: the decrypted pages gzipped, then encrypted with age; smaller, read by "
                     "age, gunzip and sqlite3); default: $HONE_BACKUP_FORMAT, else gzip")
        ->check(CLI::IsMember({"gzip", "compact"}));
    add_dir(create);
    add_db(create);
    add_json(create);

    auto* list = add(backup, "list", "List backups, newest first", command::backup_list);
    add_dir(list);
    list->add_option(
        "--db", out_.backup.db,
        "Database whose pre-restore copies are reported (default: $HONE_DB_PATH, else <data folder>/hone.db)");
    add_json(list);

    auto* show = add(backup, "show", "Show one backup", command::backup_show);
    show->add_option("name", out_.backup.name, "Backup name")->required();
    add_dir(show);
    add_json(show);

    auto* verify =
        add(backup, "verify", "Check that a backup is complete and opens with HONE_DB_KEY", command::backup_verify);
    verify->add_option("name", out_.backup.name, "Backup name")->required();
    add_dir(verify);
    add_json(verify);
    add_check(verify);
    add_allow_foreign(verify);
    add_from(verify);

    auto* restore = add(backup, "restore", "Restore a backup over the database", command::backup_restore);
    restore->add_option("name", out_.backup.name, "Backup name")->required();
    restore->add_flag("--force", out_.backup.force,
                      "Overwrite the existing database (it is kept as DB.pre-restore-TIME)");
    add_dir(restore);
    add_db(restore);
    add_json(restore);
    add_check(restore);
    add_allow_foreign(restore);
    add_from(restore);

    auto* del = add(backup, "delete", "Delete one backup", command::backup_delete);
    del->add_option("name", out_.backup.name, "Backup name")->required();
    add_dir(del);
    add_json(del);

    auto* sync =
        add(backup, "sync", "Upload the local backups the offsite bucket (HONE_R2_*) lacks", command::backup_sync);
    add_dir(sync);
    add_json(sync);
  }

  void add_prune(CLI::App* backup) {
    auto* prune = add(backup, "prune", "Delete old backups, keeping the newest ones", command::backup_prune);
    keep_opt_ = prune->add_option(
        "--keep", out_.backup.keep,
        "Keep the N newest backups (default " + std::to_string(default_keep_last) + " when no --keep-* rule is given)");
    prune->add_option("--keep-hourly", out_.backup.keep_hourly, "Keep the newest backup of each of the last N hours")
        ->check(CLI::PositiveNumber);
    prune->add_option("--keep-daily", out_.backup.keep_daily, "Keep the newest backup of each of the last N days")
        ->check(CLI::PositiveNumber);
    prune
        ->add_option("--keep-weekly", out_.backup.keep_weekly, "Keep the newest backup of each of the last N ISO weeks")
        ->check(CLI::PositiveNumber);
    prune->add_option("--keep-monthly", out_.backup.keep_monthly, "Keep the newest backup of each of the last N months")
        ->check(CLI::PositiveNumber);
    prune->add_option("--keep-yearly", out_.backup.keep_yearly, "Keep the newest backup of each of the last N years")
        ->check(CLI::PositiveNumber);
    prune->add_flag("--dry-run", out_.backup.dry_run,
                    "Show what would be deleted and why each backup is kept; delete nothing");
    prune->add_flag("-y,--yes", out_.backup.yes, "Do not ask for confirmation");
    add_dir(prune);
    add_json(prune);
  }

  void add_status(CLI::App* backup) {
    auto* status = add(backup, "status",
                       "Is the last backup good? The newest backup, the counts, the scheduler's last and next run "
                       "(as `hone serve` recorded them) and the last verify; exit code 1 when there is no backup or "
                       "it is older than --max-age",
                       command::backup_status);
    status->add_option("--max-age", out_.backup.max_age,
                       "Exit with 1 when the newest backup is older than this (e.g. 26h, 90m, 2d)");
    add_dir(status);
    add_json(status);
  }

  /// dashboard, serve, db migrate, demo-db.
  void add_other_commands() {
    auto* dash = add(&app_, "dashboard", "Show the counts of the live database", command::dashboard);
    dash->add_option("--db", out_.dashboard.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
    dash->add_flag("--json", out_.dashboard.json, "Print JSON");

    auto* serve = add(&app_, "serve", "Run the REST API and the built-in backup scheduler", command::serve);
    serve->add_option("--host", out_.serve.host, "Address to listen on (default 127.0.0.1)");
    serve->add_option("--port", out_.serve.port, "Port (default 3000; 0 picks a free one)")
        ->check(CLI::Range(0, 65535));
    serve->add_option("--db", out_.serve.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");
    serve->add_option("--dir", out_.serve.dir,
                      "Backup folder (default: $HONE_BACKUP_DIR, else the platform data folder)");

    auto* dbcmd = app_.add_subcommand("db", "Database maintenance");
    auto* migrate =
        add(dbcmd, "migrate", "Upgrade a SQLCipher 3 database to the SQLCipher 4 format (the original is kept)",
            command::db_migrate);
    migrate->add_option("--db", out_.migrate.db, "Database file (default: $HONE_DB_PATH, else <data folder>/hone.db)");

    demo_spec& spec = out_.demo_db.spec;
    auto* demo = add(&app_, "demo-db", "Create a demo Hone database (never overwrites one)", command::demo_db);
    demo->add_option("--db", out_.demo_db.db, "Where (default: $HONE_DB_PATH, else <data folder>/hone.db)");
    demo->add_option("--accounts", spec.accounts, "Number of accounts (default 3)")->check(CLI::Range(0, 1000));
    demo->add_option("--transactions", spec.transactions, "Number of transactions (default 500)")
        ->check(CLI::Range(0, 10000000));
    demo->add_option("--subscriptions", spec.subscriptions, "Active subscriptions (default 6)")
        ->check(CLI::Range(0, 10000));
  }

  /// "hone backup create": the command the user was typing, for "see '... --help'".
  std::string command_path() {
    std::string where = "hone";
    for (CLI::App* c = &app_;;) {
      auto subs = c->get_subcommands();
      if (subs.empty()) break;
      c = subs.front();
      where += " " + c->get_name();
    }
    return where;
  }

  int unexpected_arguments() {
    // Unexpected values are not echoed: one may be a passphrase typed in the wrong place (the
    // key is read from HONE_DB_KEY only), and this line may end up in a log.
    std::string shown;
    std::size_t hidden = 0;
    for (const auto& a : app_.remaining(true)) {
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
  }

  CLI::App app_{
      "hone: encrypted, compressed, consistent backups of the Hone database.\n"
      "The database key comes from HONE_DB_KEY (never from the command line).",
      "hone"};
  command_line& out_;
  std::vector<std::pair<CLI::App*, command>> commands_;
  CLI::Option* name_opt_ = nullptr;  ///< backup create --name
  CLI::Option* keep_opt_ = nullptr;  ///< backup prune --keep
};

std::optional<int> parser::parse(int argc, char** argv) {
  if (argc <= 1) {
    std::fputs(app_.help().c_str(), stderr);
    return exit_usage;
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ExtrasError&) {
    return unexpected_arguments();
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see '%s --help')\n", e.what(), command_path().c_str());
    return exit_usage;
  }
  out_.backup.name_given = name_opt_->count() > 0;
  out_.backup.keep_given = keep_opt_->count() > 0;
  for (auto [sub, cmd] : commands_)
    if (sub->parsed()) {
      out_.cmd = cmd;
      return std::nullopt;
    }
  std::fputs(app_.help().c_str(), stderr);
  return exit_usage;
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, command_line& out) {
  return parser(out).parse(argc, argv);
}

}  // namespace hone_app
