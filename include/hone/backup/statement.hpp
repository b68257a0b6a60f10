// hone::backup::statement: a prepared SQLite statement that owns its handle.
#pragma once

#include <hone/backup/detail/posix.hpp>
#include <hone/backup/error.hpp>

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace hone::backup {

namespace detail {
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;
inline std::string errmsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }
}  // namespace detail

/// A prepared statement: values are bound by position (1-based), never spliced into SQL text;
/// step() returns true while a row is available. Errors throw database_error with SQLite's
/// message (and the system error behind an I/O failure).
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
  statement& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_.get(), i, v));
    return *this;
  }
  statement& bind_null(int i) {
    check(sqlite3_bind_null(stmt_.get(), i));
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
  /// Makes the statement ready to run again with new values (bindings are cleared).
  void reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
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
    std::string why = detail::errmsg(db_);
    // "disk I/O error" alone hides the cause: a full disk, a file size limit (EFBIG)...
    const int code = db_ ? sqlite3_extended_errcode(db_) & 0xff : rc & 0xff;
    if (const int e = db_ ? sqlite3_system_errno(db_) : 0; e != 0 && (code == SQLITE_IOERR || code == SQLITE_FULL))
      why += ": " + detail::errno_text(e);
    throw database_error(why + " (SQLite error " + std::to_string(rc) + ")");
  }
  sqlite3* db_;
  detail::stmt_ptr stmt_;
};

}  // namespace hone::backup
