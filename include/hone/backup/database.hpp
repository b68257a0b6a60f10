// Opening an SQLite or SQLCipher database the way sqlcipher_exporter does, for programs that
// also read or create the database they back up: hone::backup::database (a keyed connection),
// statement (values always bound, never spliced into SQL text) and transaction (rolled back
// unless committed).
#pragma once

#include <hone/backup/detail/database_head.hpp>
#include <hone/backup/detail/replace.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/statement.hpp>
#include <hone/backup/types.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace hone::backup {

/// The file a restore of `database` replaces, and beside which it keeps the previous database
/// (DATABASE.pre-restore-TIMESTAMP): `database` made absolute, or, when it is a symbolic link,
/// the file the link points to. A restore never replaces the link itself.
inline std::filesystem::path restored_file_path(const std::filesystem::path& database) {
  return detail::link_target_file(database);
}

/// How database::open opens a file.
enum class open_mode {
  read_only,   ///< an existing file, no writes
  read_write,  ///< an existing file
  create,      ///< a new file, keyed with the key (plain SQLite when the key is empty)
};

/// A connection keyed like sqlcipher_exporter keys one: a file that starts with SQLite's plain
/// header is opened without a key; an encrypted file needs the key, which is proven on the
/// schema at once (files written by SQLCipher 3 are detected). Closed when destroyed.
class database {
 public:
  /// Opens `path`. Throws database_not_found_error when an existing file was asked for and
  /// there is none, key_required_error for an encrypted file and an empty key,
  /// encryption_error when the key does not open it (or it is not a database), and
  /// database_error for other failures. The key reaches SQLCipher through sqlite3_key(),
  /// never SQL text.
  static database open(const std::filesystem::path& path, const database_key& key,
                       open_mode mode = open_mode::read_write, int busy_timeout_ms = 10000) {
    if (mode == open_mode::create) {
      auto db = detail::open_database(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, key);
      detail::set_busy_timeout(db.get(), busy_timeout_ms);
      return database(std::move(db), !key.empty());
    }
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw database_not_found_error("Database not found: " + path.string());
    const auto kind = detail::classify_database_file(path);
    if (kind == detail::database_kind::empty || kind == detail::database_kind::not_database)
      throw database_error("Cannot open " + path.string() + ": " + std::string(detail::database_kind_problem(kind)));
    const bool plain = kind == detail::database_kind::plain;
    if (!plain && key.empty())
      throw key_required_error("Cannot read " + path.string() + ": the database is encrypted and no key was given");
    const database_key none;
    const int flags = mode == open_mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    auto opened = detail::open_and_probe(path, flags, plain ? none : key, busy_timeout_ms);
    return database(std::move(opened.db), !plain);
  }

  sqlite3* handle() const noexcept { return db_.get(); }
  bool encrypted() const noexcept { return encrypted_; }

  /// Runs SQL that takes no values and returns no rows needed (PRAGMAs, DDL).
  void exec(std::string_view sql) { detail::exec(db_.get(), sql); }
  statement prepare(std::string_view sql) { return statement(db_.get(), sql); }

  /// Runs the count queries inside one read transaction, so they see one snapshot. A query
  /// whose table does not exist gives an absent value.
  row_counts count(const std::vector<count_query>& queries) {
    row_counts out;
    detail::read_transaction snapshot(db_.get());
    for (const auto& q : queries) out.add(q.label, detail::optional_count(db_.get(), q.sql));
    return out;
  }

 private:
  database(detail::db_ptr db, bool encrypted) : db_(std::move(db)), encrypted_(encrypted) {}
  detail::db_ptr db_;
  bool encrypted_ = false;
};

/// A transaction on `db`: BEGIN (or BEGIN IMMEDIATE) now, ROLLBACK when destroyed unless
/// commit() succeeded.
class transaction {
 public:
  enum class kind { deferred, immediate };
  explicit transaction(database& db, kind k = kind::deferred) : tx_(db.handle(), k == kind::immediate) {}
  void commit() { tx_.commit(); }

 private:
  detail::transaction tx_;
};

/// The SQLCipher version the program is linked with ("4.14.0 community"), or empty when it is
/// plain SQLite.
inline std::string sqlcipher_version() { return detail::sqlcipher_version(); }

}  // namespace hone::backup
