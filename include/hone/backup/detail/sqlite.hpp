// Thin RAII over the SQLite/SQLCipher C API: connections, statements, keyed opening, and
// silencing SQLCipher's own stderr log so that users see our messages, not its noise.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/key.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hone::backup::detail {

struct sqlite_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using db_ptr = std::unique_ptr<sqlite3, sqlite_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

/// True when the file starts with SQLite's plain header: an unencrypted database.
inline bool has_plain_header(const std::filesystem::path& p) {
  char buf[16] = {};
  std::ifstream f(p, std::ios::binary);
  f.read(buf, sizeof buf);
  return f.gcount() == 16 && std::memcmp(buf, "SQLite format 3", 16) == 0;
}
inline bool is_plain_header(const void* data, std::size_t n) {
  return n >= 16 && std::memcmp(data, "SQLite format 3", 16) == 0;
}

/// SQLCipher 4 logs "ERROR CORE ..." lines to stderr by default (e.g. on a wrong key). A
/// library must not write to its host's stderr, so the log is turned off once per process.
/// Harmless on SQLCipher 3, which ignores unknown pragmas.
inline void quiet_sqlcipher_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK)
      sqlite3_exec(db, "PRAGMA cipher_log_level = NONE", nullptr, nullptr, nullptr);
    sqlite3_close_v2(db);
  });
}

/// The SQLCipher version the program is linked with ("4.14.0 community"), or empty for plain
/// SQLite.
inline std::string sqlcipher_version() {
  sqlite3* raw = nullptr;
  std::string v;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(raw, "PRAGMA cipher_version", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      if (auto t = sqlite3_column_text(s, 0)) v = reinterpret_cast<const char*>(t);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close_v2(raw);
  return v;
}

/// Major version of the linked SQLCipher (3, 4, ...), 0 when unknown.
inline int sqlcipher_major() {
  static const int major = [] {
    auto v = sqlcipher_version();
    return v.empty() ? 0 : std::atoi(v.c_str());
  }();
  return major;
}

inline std::string errmsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

/// A prepared statement with bound parameters; step() throws on errors.
class statement {
 public:
  statement(sqlite3* db, std::string_view sql) : db_(db) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
    stmt_.reset(s);
    if (rc != SQLITE_OK) throw_error(rc);
  }
  statement& bind(int i, std::string_view text) {
    check(sqlite3_bind_text(stmt_.get(), i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
    return *this;
  }
  statement& bind_blob(int i, const void* data, std::size_t n) {
    check(sqlite3_bind_blob(stmt_.get(), i, data, static_cast<int>(n), SQLITE_TRANSIENT));
    return *this;
  }
  statement& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_.get(), i, v));
    return *this;
  }
  /// Returns true while a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_error(rc);
  }
  std::int64_t column_int(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  std::string column_text(int i) const {
    auto t = sqlite3_column_text(stmt_.get(), i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }
  sqlite3_stmt* get() const noexcept { return stmt_.get(); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw_error(rc);
  }
  [[noreturn]] void throw_error(int rc) const {
    throw database_error(errmsg(db_) + " (SQLite error " + std::to_string(rc) + ")");
  }
  sqlite3* db_;
  stmt_ptr stmt_;
};

/// Runs SQL that returns no rows we need.
inline void exec(sqlite3* db, std::string_view sql) {
  statement s(db, sql);
  while (s.step()) {
  }
}

/// Opens a database file. The key, when given, goes through sqlite3_key(), never SQL text.
inline db_ptr open_database(const std::filesystem::path& path, int flags, const database_key& key) {
  quiet_sqlcipher_log();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_ptr db(raw);
  if (rc != SQLITE_OK) throw database_error("Cannot open database " + path.string() + ": " + errmsg(raw));
  sqlite3_extended_result_codes(raw, 1);
  if (!key.empty()) {
    auto secret = key.expose_secret();
    rc = sqlite3_key(raw, secret.data(), static_cast<int>(secret.size()));
    if (rc != SQLITE_OK) throw encryption_error("Cannot apply the key to " + path.string());
  }
  return db;
}

/// True when a statement failed because the file is not a database under this key.
inline bool is_not_a_database(int rc) noexcept { return (rc & 0xff) == SQLITE_NOTADB; }

/// Touches the schema; fails with SQLITE_NOTADB when the key is wrong.
inline int probe_schema(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

/// Runs a COUNT-like query. A missing table (or column) yields no value, not an error.
inline std::optional<std::int64_t> optional_count(sqlite3* db, const std::string& sql) {
  if (sql.empty()) return std::nullopt;
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) {
    std::string msg = errmsg(db);
    if (msg.rfind("no such table", 0) == 0 || msg.rfind("no such column", 0) == 0) return std::nullopt;
    throw database_error("Count query failed: " + msg);
  }
  rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(raw, 0);
  if (rc == SQLITE_DONE) return std::nullopt;
  throw database_error("Count query failed: " + errmsg(db));
}

}  // namespace hone::backup::detail
