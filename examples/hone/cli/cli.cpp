#include "cli/cli.hpp"

#include "cli/completion.hpp"

#include <CLI/CLI.hpp>

#include <hone/backup.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
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

constexpr const char* latest_help = "Backup name, or latest (the newest backup)";

/// Edit distance (insertions, deletions, substitutions) between two short words.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The subcommand of `c` nearest to `typed` (at most 2 edits away, or a name it begins), or "".
std::string nearest_subcommand(CLI::App* c, std::string_view typed) {
  std::string best;
  std::size_t best_d = 3;
  for (CLI::App* sub : c->get_subcommands([](CLI::App*) { return true; })) {
    const std::string& n = sub->get_name();
    const std::size_t d = typed.size() >= 2 && n.starts_with(typed) ? 1 : distance(typed, n);
    if (d < best_d) best = n, best_d = d;
  }
  return best;
}

/// The CLI11 description of the program, filling in a command_line.
class parser {
 public:
  explicit parser(command_line& out) : out_(out) {
    app_.set_version_flag("--version", version_text());
    app_.set_help_all_flag("--help-all", "Show help for every command");
    app_.add_flag("-v,--verbose", out_.verbose, "Debug logging to stderr (--log-level debug)");
    app_.add_option("--log-level", out_.log_level, "Lowest level logged: debug, info (default), warn or error");
    app_.add_flag("-q,--quiet", out_.quiet,
                  "Print nothing but errors and warnings (the JSON of --json is still printed)");
    app_.require_subcommand(1);
    app_.fallthrough();  // --verbose after a subcommand works too
    app_.footer(
        "Environment: HONE_DB_KEY (passphrase), HONE_DB_PATH, HONE_BACKUP_DIR, HONE_API_TOKEN,\n"
        "HONE_METRICS_TOKEN, HONE_LOG_LEVEL, HONE_LOG_FORMAT (text, json, journal),\n"
        "HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION; offsite copy: HONE_R2_BUCKET, HONE_R2_ACCESS_KEY_ID,\n"
        "HONE_R2_SECRET_ACCESS_KEY, HONE_R2_ENDPOINT (HONE_R2_PREFIX, HONE_R2_REGION).\n"
        "Exit codes: 0 ok, 1 failed, 2 usage error, 10 backup/database/folder not found, 11 locked by\n"
        "another run, 12 wrong or missing key, 13 the local step worked but the offsite one failed,\n"
        "14 no backup or older than --max-age (backup status). With --json a failure is\n"
        "{\"error\": {\"code\": ..., \"message\": ...}} on stdout. 'latest' names the newest backup.");
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
    create->add_flag("--pin", out_.backup.pin, "Pin the new backup: no prune deletes it (hone backup unpin)");

    auto* list = add(backup, "list", "List backups, newest first", command::backup_list);
    add_dir(list);
    list->add_option(
        "--db", out_.backup.db,
        "Database whose pre-restore copies are reported (default: $HONE_DB_PATH, else <data folder>/hone.db)");
    add_json(list);

    auto* show = add(backup, "show", "Show one backup", command::backup_show);
    show->add_option("name", out_.backup.name, latest_help)->required();
    add_dir(show);
    add_json(show);

    auto* verify =
        add(backup, "verify", "Check that a backup is complete and opens with HONE_DB_KEY", command::backup_verify);
    verify->add_option("name", out_.backup.name, latest_help)->required();
    add_dir(verify);
    add_json(verify);
    add_check(verify);
    add_allow_foreign(verify);
    add_from(verify);

    auto* restore = add(backup, "restore", "Restore a backup over the database", command::backup_restore);
    restore->add_option("name", out_.backup.name, latest_help)->required();
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

    auto* run = add(backup, "run",
                    "Run one scheduled cycle now: create (with the upload), sync, prune both places by "
                    "HONE_BACKUP_RETENTION / HONE_BACKUP_KEEP_*, record it for `backup status`, run "
                    "HONE_BACKUP_ON_FAILURE on a failure; exit code 1 when any step failed",
                    command::backup_run);
    add_dir(run);
    add_db(run);

    auto* sync =
        add(backup, "sync", "Upload the local backups the offsite bucket (HONE_R2_*) lacks", command::backup_sync);
    add_dir(sync);
    add_json(sync);

    for (bool pin : {true, false}) {
      auto* c = add(backup, pin ? "pin" : "unpin",
                    pin ? "Keep a backup: no prune (CLI, API, scheduler, offsite bucket) deletes it"
                        : "Let prune delete a pinned backup again",
                    pin ? command::backup_pin : command::backup_unpin);
      c->add_option("name", out_.backup.name, "Backup name")->required();
      add_dir(c);
      add_json(c);
    }
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
                       "(as `hone serve` recorded them) and the last verify; exit code 14 when there is no backup or "
                       "it is older than --max-age, 13 when the offsite bucket cannot be listed",
                       command::backup_status);
    status->add_option("--max-age", out_.backup.max_age,
                       "Exit with 14 when the newest backup is older than this (e.g. 26h, 90m, 2d)");
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

  /// The help of `c` and of every command under it (`path`: the commands above it).
  static std::string every_help(CLI::App* c, const std::string& path) {
    std::string out = c->help(path);
    const std::string here = path.empty() ? c->get_name() : path + " " + c->get_name();
    for (CLI::App* sub : c->get_subcommands([](CLI::App*) { return true; })) out += "\n" + every_help(sub, here);
    return out;
  }

  /// The deepest command the user typed (app_ when none).
  CLI::App* innermost() {
    CLI::App* c = &app_;
    for (auto subs = c->get_subcommands(); !subs.empty(); subs = c->get_subcommands()) c = subs.front();
    return c;
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

  /// Prints a usage error (and, with --json, its JSON object on stdout); returns exit_usage.
  int usage(const std::string& message) {
    std::fprintf(stderr, "error: %s (see '%s --help')\n", message.c_str(), command_path().c_str());
    if (json_) print_json(cli_error_json("usage", message));
    return exit_usage;
  }

  /// "unknown command (did you mean 'create'?)" when the first unexpected word is near a
  /// subcommand of the command typed; "" otherwise. The word itself is not echoed (see
  /// unexpected_arguments).
  std::string suggestion() {
    CLI::App* c = innermost();
    if (c->get_subcommands([](CLI::App*) { return true; }).empty()) return {};
    for (const auto& a : app_.remaining(true)) {
      if (a.empty() || a[0] == '-') continue;
      const std::string near = nearest_subcommand(c, a);
      return "unknown command" + (near.empty() ? std::string() : " (did you mean '" + near + "'?)");
    }
    return {};
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
    return usage("unexpected argument: " + msg);
  }

  CLI::App app_{
      "hone: encrypted, compressed, consistent backups of the Hone database.\n"
      "The database key comes from HONE_DB_KEY (never from the command line).",
      "hone"};
  command_line& out_;
  std::vector<std::pair<CLI::App*, command>> commands_;
  CLI::Option* name_opt_ = nullptr;  ///< backup create --name
  CLI::Option* keep_opt_ = nullptr;  ///< backup prune --keep
  bool json_ = false;                ///< --json is on the command line: usage errors in JSON too
};

std::optional<int> parser::parse(int argc, char** argv) {
  if (argc <= 1) {
    std::fputs(app_.help().c_str(), stderr);
    return exit_usage;
  }
  for (int i = 1; i < argc; ++i) json_ = json_ || std::string_view(argv[i]) == "--json";
  // `hone --help-man`: the help of every command, one after the other (help2man reads it).
  if (argc == 2 && std::string_view(argv[1]) == "--help-man") {
    std::fputs(every_help(&app_, "").c_str(), stdout);
    return exit_ok;
  }
  // `hone --completion bash|zsh`: the completion script (not in --help: the build installs it).
  if (argc == 3 && std::string_view(argv[1]) == "--completion") {
    const std::string script = completion_script(app_, argv[2]);
    if (script.empty()) return usage("--completion takes bash or zsh");
    std::fputs(script.c_str(), stdout);
    return exit_ok;
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    if (auto s = suggestion(); !s.empty()) return usage(s);
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) return unexpected_arguments();
    return usage(e.what());
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
