// PROTOTYPE (issue 6), not part of the library: a snapshot of include/hone/backup/exporter.hpp
// with two changes, in its own namespace so that both can be measured side by side:
//  1. the copy is a private temp file that is read back at once and deleted, so its
//     durability is worthless: the target gets `synchronous = OFF` and `journal_mode = OFF`
//     (no journal, no fsync of the whole copy; the finished .gz is still fsynced by the
//     Destination);
//  2. the default method is backup_api.
// sqlcipher_exporter: the shipped Exporter. It writes a consistent single-file copy of an
// SQLCipher (or plain SQLite) database, keyed like the source, and reads the row counts from
// the very snapshot it copies.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/types.hpp>

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace hone_bench::proto {
using namespace hone::backup;

// count_queries and export_method are the library's (hone::backup).

/// Settings of sqlcipher_exporter.
struct sqlcipher_exporter_options {
  database_key key;  ///< empty: the database is plain SQLite
  count_queries counts;
  export_method method = export_method::backup_api;  // PROTOTYPE: was sqlcipher_export
  bool unsynced_copy = true;                         ///< PROTOTYPE: change 1
  int busy_timeout_ms = 10000;                       ///< for the rare moments a lock is needed
  /// SQLCipher compatibility generation of the database: 0 = detect (try the library's
  /// default, then 3 for files made by SQLCipher 3), or 3 / 4 to force it.
  int cipher_compatibility = 0;
};

class sqlcipher_exporter {
 public:
  using options = sqlcipher_exporter_options;

  explicit sqlcipher_exporter(std::filesystem::path database, options opts = {})
      : db_path_(std::move(database)), opts_(std::move(opts)) {}

  const std::filesystem::path& database() const noexcept { return db_path_; }
  const options& settings() const noexcept { return opts_; }

  /// Writes the copy to `target` (which must not exist; it is created owner-only).
  export_result export_to(const std::filesystem::path& target, const progress_fn& progress) {
    std::error_code ec;
    if (!std::filesystem::exists(db_path_, ec)) throw database_error("Database not found: " + db_path_.string());
    const bool plain = detail::has_plain_header(db_path_);
    const database_key& key = plain ? no_key() : opts_.key;
    auto opened = open_checked(db_path_, SQLITE_OPEN_READWRITE, key);
    sqlite3* db = opened.db.get();

    // Create the target ourselves so that it is owner-only from its first byte.
    { file_writer create_owner_only(target, 0600); }

    export_result result;
    result.encrypted = !key.empty();
    try {
      if (opts_.method == export_method::backup_api && (key.empty() || detail::sqlcipher_major() >= 4))
        result.counts = copy_with_backup_api(db, target, key, opened.compatibility);
      else
        result.counts = copy_with_export(db, target, key, opened.compatibility);
    } catch (...) {
      std::filesystem::remove(target, ec);
      throw;
    }
    result.bytes = std::filesystem::file_size(target, ec);
    if (progress) progress(result.bytes);
    return result;
  }

  /// Opens `file` with the key, runs the integrity checks and the counts.
  check_result check(const std::filesystem::path& file) {
    check_result r;
    const bool plain = detail::has_plain_header(file);
    r.encrypted = !plain;
    if (!plain && opts_.key.empty()) {
      r.wrong_key = true;
      r.message = "The backup is encrypted (or not a database) and no key was given";
      return r;
    }
    try {
      auto opened = open_checked(file, SQLITE_OPEN_READONLY, plain ? no_key() : opts_.key);
      sqlite3* db = opened.db.get();
      if (!plain && detail::sqlcipher_major() >= 4) {
        detail::statement s(db, "PRAGMA cipher_integrity_check");
        std::string problems;
        while (s.step()) problems += (problems.empty() ? "" : "; ") + s.column_text(0);
        if (!problems.empty()) {
          r.message = "cipher_integrity_check failed: " + problems;
          return r;
        }
      }
      {
        detail::statement s(db, "PRAGMA integrity_check");
        std::string result;
        while (s.step()) result += (result.empty() ? "" : "; ") + s.column_text(0);
        if (result != "ok") {
          r.message = "integrity_check failed: " + result;
          return r;
        }
      }
      r.counts = read_counts(db);
      r.valid = true;
      r.message = "ok";
    } catch (const encryption_error& e) {
      r.wrong_key = true;
      r.message = e.what();
    } catch (const error& e) {
      r.message = e.what();
    }
    return r;
  }

 private:
  using opened_db = detail::opened_database;

  static const database_key& no_key() {
    static const database_key k;
    return k;
  }

  /// Opens and proves the key works; detects files written by SQLCipher 3 (see
  /// detail::open_and_probe).
  opened_db open_checked(const std::filesystem::path& path, int flags, const database_key& key) const {
    return detail::open_and_probe(path, flags, key, opts_.busy_timeout_ms, opts_.cipher_compatibility);
  }

  table_counts read_counts(sqlite3* db) const {
    table_counts c;
    c.accounts = detail::optional_count(db, opts_.counts.accounts);
    c.transactions = detail::optional_count(db, opts_.counts.transactions);
    c.subscriptions = detail::optional_count(db, opts_.counts.subscriptions);
    return c;
  }

  /// BEGIN, then read the schema: that read starts the snapshot every later statement sees.
  static void begin_snapshot(sqlite3* db) {
    detail::exec(db, "BEGIN");
    detail::exec(db, "SELECT count(*) FROM sqlite_master");
  }

  static void end_snapshot(sqlite3* db) noexcept { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }

  table_counts copy_with_export(sqlite3* db, const std::filesystem::path& target, const database_key& key,
                                int compatibility) const {
    {
      detail::statement attach(db, "ATTACH DATABASE ?1 AS hone_backup_target KEY ?2");
      attach.bind(1, target.string());
      attach.bind(2, key.expose_secret());
      try {
        attach.step();
      } catch (const error& e) {
        throw export_error(std::string("sqlcipher_export failed: cannot create the copy: ") + e.what());
      }
    }
    struct detach_guard {
      sqlite3* db;
      ~detach_guard() { sqlite3_exec(db, "DETACH DATABASE hone_backup_target", nullptr, nullptr, nullptr); }
    } detach{db};
    if (compatibility != 0 && !key.empty())
      detail::exec(db, "PRAGMA hone_backup_target.cipher_compatibility = " + std::to_string(compatibility));
    if (opts_.unsynced_copy) {
      detail::exec(db, "PRAGMA hone_backup_target.synchronous = OFF");
      detail::exec(db, "PRAGMA hone_backup_target.journal_mode = OFF");
    }

    table_counts counts;
    try {
      begin_snapshot(db);
      counts = read_counts(db);
      detail::exec(db, "SELECT sqlcipher_export('hone_backup_target')");
      detail::copy_header_values(db, "main", "hone_backup_target");
      detail::exec(db, "COMMIT");
    } catch (const error& e) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw export_error(std::string("sqlcipher_export failed: ") + e.what());
    }
    return counts;
  }

  table_counts copy_with_backup_api(sqlite3* src, const std::filesystem::path& target, const database_key& key,
                                    int compatibility) const {
    auto dst = detail::open_database(target, SQLITE_OPEN_READWRITE, key);
    if (compatibility != 0 && !key.empty())
      detail::exec(dst.get(), "PRAGMA cipher_compatibility = " + std::to_string(compatibility));
    if (opts_.unsynced_copy) {
      detail::exec(dst.get(), "PRAGMA synchronous = OFF");
      detail::exec(dst.get(), "PRAGMA journal_mode = OFF");
    }
    table_counts counts;
    try {
      begin_snapshot(src);
      counts = read_counts(src);
      sqlite3_backup* b = sqlite3_backup_init(dst.get(), "main", src, "main");
      if (!b) throw database_error(detail::errmsg(dst.get()));
      int rc = sqlite3_backup_step(b, -1);
      int rc_finish = sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) throw database_error(sqlite3_errstr(rc));
      if (rc_finish != SQLITE_OK) throw database_error(detail::errmsg(dst.get()));
      end_snapshot(src);
    } catch (const error& e) {
      sqlite3_exec(src, "ROLLBACK", nullptr, nullptr, nullptr);
      throw export_error(std::string("sqlcipher_export failed: online backup: ") + e.what());
    }
    // The copy keeps the source's journal mode in its header; make it a self-contained file.
    detail::exec(dst.get(), "PRAGMA journal_mode = DELETE");
    return counts;
  }

  std::filesystem::path db_path_;
  options opts_;
};

static_assert(Exporter<sqlcipher_exporter>);

}  // namespace hone_bench::proto
