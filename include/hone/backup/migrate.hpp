// migrate_to_v4: upgrades a database written by SQLCipher 3 (its default settings) to the
// SQLCipher 4 format with PRAGMA cipher_migrate, safely: the upgrade runs on a consistent copy,
// the copy is checked, the original file is kept as DATABASE.pre-migrate-TIMESTAMP, and the
// upgraded file is renamed into place atomically. Needs a program linked with SQLCipher 4.
#pragma once

#include <hone/backup/detail/replace.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/names.hpp>
#include <hone/backup/types.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <utility>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::backup {

/// Settings of migrate_to_v4.
struct migrate_options {
  /// How long to wait for another connection's write transaction to end before giving up
  /// (lock_error). The write lock is then held until the upgraded file is in place.
  int busy_timeout_ms = 10000;
  /// The instant in the name of the kept original (DATABASE.pre-migrate-YYYY-MM-DD-HHMMSS,
  /// UTC); default: now.
  std::optional<time_point> now;
};

/// What migrate_to_v4 did.
struct migrate_result {
  /// True when the file was upgraded; false when there was nothing to do.
  bool migrated = false;
  /// The format found: 3 (written by SQLCipher 3, now upgraded), 4 (already SQLCipher 4:
  /// untouched) or 0 (plain SQLite, not encrypted: untouched).
  int from_version = 0;
  std::filesystem::path database;          ///< the database's canonical path (symbolic links resolved)
  std::filesystem::path pre_migrate_copy;  ///< the original file, kept; empty when not migrated
  std::string message;                     ///< one line for the user
};

namespace detail::migrate_impl {

inline std::string quoted_identifier(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

/// Rows of every table (sqlite_master is spelled so that SQLite 3.15 understands it too).
inline std::map<std::string, std::int64_t> table_row_counts(sqlite3* db) {
  std::map<std::string, std::int64_t> counts;
  std::vector<std::string> tables;
  {
    statement s(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    while (s.step()) tables.push_back(s.column_text(0));
  }
  for (auto& t : tables) {
    statement s(db, "SELECT count(*) FROM " + quoted_identifier(t));
    if (s.step()) counts[t] = s.column_int(0);
  }
  return counts;
}

inline std::string single_value(sqlite3* db, const std::string& sql) {
  statement s(db, sql);
  return s.step() ? s.column_text(0) : std::string();
}

/// Step 3 of migrate_to_v4: a consistent copy of `database` at `tmpl` (an empty file), still in
/// the SQLCipher `compatibility` format, header values included.
inline void copy_in_old_format(const std::filesystem::path& database, const std::string& tmpl, const database_key& key,
                               int busy_timeout_ms, int compatibility) {
  const std::string db = database.string();
  const std::string compat_pragma = std::to_string(compatibility);
  try {
    // Read-write only because ATTACH opens the copy with the main database's flags.
    auto src = detail::open_and_probe(database, SQLITE_OPEN_READWRITE, key, busy_timeout_ms, compatibility);
    detail::attached_database copy(src.db.get(), tmpl, "hone_migrate_copy", key);
    detail::exec(src.db.get(), "PRAGMA hone_migrate_copy.cipher_compatibility = " + compat_pragma);
    detail::read_transaction snapshot(src.db.get());
    detail::exec(src.db.get(), "SELECT sqlcipher_export('hone_migrate_copy')");
    detail::copy_header_values(src.db.get(), "main", "hone_migrate_copy");
    snapshot.end();
  } catch (const error& e) {
    throw database_error("Migration failed: cannot copy " + db + ": " + e.what());
  }
}

/// Step 4 of migrate_to_v4: PRAGMA cipher_migrate on the copy, then the proof that it opens with
/// SQLCipher 4's defaults, passes both integrity checks and holds the source's rows and user
/// version; it gets the source's journal mode.
inline void upgrade_and_prove(const std::string& tmpl, const database_key& key, int busy_timeout_ms,
                              const std::map<std::string, std::int64_t>& source_rows, const std::string& user_version,
                              const std::string& journal_mode) {
  try {
    {
      // CREATE because cipher_migrate ATTACHes its own TEMP-migrated file with these flags.
      auto m = detail::open_database(tmpl, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, key);
      detail::set_busy_timeout(m.get(), busy_timeout_ms);
      // cipher_migrate must be the first statement after the key.
      std::string out = single_value(m.get(), "PRAGMA cipher_migrate");
      if (out != "0") throw database_error("PRAGMA cipher_migrate reported failure (" + out + ")");
    }
    auto check = detail::open_and_probe(tmpl, SQLITE_OPEN_READWRITE, key, busy_timeout_ms, 4);
    sqlite3* h = check.db.get();
    {
      detail::statement s(h, "PRAGMA cipher_integrity_check");
      if (s.step()) throw database_error("cipher_integrity_check failed on the upgraded copy: " + s.column_text(0));
    }
    if (auto ic = single_value(h, "PRAGMA integrity_check"); ic != "ok")
      throw database_error("integrity_check failed on the upgraded copy: " + ic);
    if (table_row_counts(h) != source_rows) throw database_error("the upgraded copy does not hold the same rows");
    if (single_value(h, "PRAGMA user_version") != user_version)
      throw database_error("the upgraded copy lost the user_version");
    if (journal_mode == "wal") detail::exec(h, "PRAGMA journal_mode = WAL");
  } catch (const error& e) {
    throw database_error(std::string("Migration failed, the database is unchanged: ") + e.what());
  }
}

}  // namespace detail::migrate_impl

/// Upgrades the SQLCipher 3 database at `database` (keyed with `key`) to the SQLCipher 4
/// format, in these steps:
///  1. Opens it; a plain SQLite file or a file that already opens with SQLCipher 4's defaults
///     is left untouched (migrated = false, from_version 0 or 4). A key that opens it neither
///     way throws encryption_error; nothing is changed.
///  2. Holds the database still until step 6 (detail::hold_still: leaves WAL mode, so SQLite
///     checkpoints the WAL into the file, and takes the write lock, waiting up to
///     busy_timeout_ms, else database_busy_error), so no commit can be lost in between.
///  3. Writes a consistent copy (sqlcipher_export, including content still in the -wal file)
///     to a hidden temp file beside the database, still in the SQLCipher 3 format.
///  4. Runs PRAGMA cipher_migrate on the copy, then checks it: it must open with SQLCipher 4's
///     defaults, pass cipher_integrity_check and integrity_check, and hold as many rows in
///     every table as the source. It gets the source's journal mode (WAL stays WAL), user
///     version and file permissions.
///  5. Keeps the original as DATABASE.pre-migrate-YYYY-MM-DD-HHMMSS (a hard link where
///     possible; -1, -2, ... added if that exists).
///  6. Removes the old -wal/-shm/-journal (checked) and renames the upgraded copy over
///     DATABASE (atomic: the path always names a complete database). Any failure before the
///     rename leaves the database's content untouched and removes the temp files.
/// The application using the database should be stopped first: a program that keeps its
/// connection open goes on using the old file (now the .pre-migrate copy).
/// Throws database_error when the program is linked with SQLCipher 3 (cipher_migrate is a
/// SQLCipher 4 feature), database_not_found_error "Database not found: PATH" for a missing file.
inline migrate_result migrate_to_v4(const std::filesystem::path& database, const database_key& key,
                                    const migrate_options& options = {}) {
  namespace fs = std::filesystem;
  using namespace detail::migrate_impl;
  std::error_code ec;
  migrate_result r;
  const fs::path given = fs::absolute(database, ec);
  if (!fs::is_regular_file(given, ec)) throw database_not_found_error("Database not found: " + given.string());
  // Through symbolic links: the upgraded file replaces the real file, and a link keeps pointing at it.
  r.database = fs::canonical(given, ec);
  if (ec) throw database_not_found_error("Database not found: " + given.string() + ": " + ec.message());
  const std::string db = r.database.string();

  if (detail::has_plain_header(r.database)) {
    r.from_version = 0;
    r.message = "The database is not encrypted (plain SQLite): nothing to migrate";
    return r;
  }
  if (key.empty())
    throw encryption_error("Cannot read " + db + ": the file is encrypted or is not a database, and no key was given");
  if (detail::sqlcipher_major() < 4)
    throw database_error(
        "Migrating to the SQLCipher 4 format needs SQLCipher 4; this program is linked with SQLCipher " +
        detail::sqlcipher_version());

  // 1. Which format is it? (throws encryption_error for a wrong key)
  auto guard = detail::open_and_probe(r.database, SQLITE_OPEN_READWRITE, key, options.busy_timeout_ms);
  if (guard.compatibility == 0) {
    r.from_version = 4;
    r.message = "The database is already in the SQLCipher 4 format: nothing to migrate";
    return r;
  }
  r.from_version = guard.compatibility;

  // 2. Hold the database still: its WAL checkpointed into the file, the write lock taken, so
  //    the file alone holds every commit and nobody commits until the rename.
  const std::string journal_mode = detail::hold_still(guard.db.get(), db);
  const auto unlock = detail::transaction::adopt(guard.db.get());  // rolled back (released) on return
  const auto source_rows = table_row_counts(guard.db.get());
  const std::string user_version = single_value(guard.db.get(), "PRAGMA user_version");

  struct stat st {};
  if (::stat(db.c_str(), &st) != 0) throw io_error("Cannot read " + db + ": " + detail::errno_text(errno));

  // 3. A consistent copy beside the database, still in the SQLCipher 3 format.
  const fs::path dir = r.database.parent_path();
  std::string tmpl = (dir / ("." + r.database.filename().string() + ".migrate-XXXXXX")).string();
  {
    detail::unique_fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) throw io_error("Cannot create a temporary file in " + dir.string() + ": " + detail::errno_text(errno));
  }
  std::vector<std::string> side_files(std::begin(detail::sqlite_sidecars), std::end(detail::sqlite_sidecars));
  side_files.insert(side_files.end(), {"-migrated", "-migrated-journal"});  // cipher_migrate's own
  detail::temp_path cleanup(tmpl, {}, std::move(side_files));
  copy_in_old_format(r.database, tmpl, key, options.busy_timeout_ms, guard.compatibility);

  // 4. Upgrade the copy, then prove the result.
  upgrade_and_prove(tmpl, key, options.busy_timeout_ms, source_rows, user_version, journal_mode);
  // cipher_migrate replaced the copy with a file of its own: give it the original's mode
  // (and owner, when allowed), and make it durable.
  detail::copy_ownership(tmpl, st);
  {
    detail::unique_fd fd(::open(tmpl.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw io_error("Cannot open " + tmpl + ": " + detail::errno_text(errno));
    detail::fsync_checked(fd.get(), "Cannot sync " + tmpl);
  }

  // 5. Keep the original as it is (the file alone holds it, see step 2) and, still holding
  //    the lock, drop the old side files and move the upgraded file into place.
  const std::string kept = detail::replace_database_file(
      tmpl, db, &st, db + ".pre-migrate-" + name_timestamp(options.now.value_or(std::chrono::system_clock::now())));
  r.pre_migrate_copy = kept;
  cleanup.release();
  ::unlink((tmpl + "-migrated").c_str());
  detail::fsync_directory(dir);
  r.migrated = true;
  r.message = "Database migrated from the SQLCipher " + std::to_string(r.from_version) +
              " format to SQLCipher 4; the original is kept at " + kept;
  return r;
}

}  // namespace hone::backup
