// Thin RAII over the SQLite/SQLCipher C API: connections, statements, keyed opening, and
// silencing SQLCipher's own stderr log so that users see our messages, not its noise.
#pragma once

#include <hone/backup/detail/database_head.hpp>
#include <hone/backup/detail/posix.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/statement.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace hone::backup::detail {

struct sqlite_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, sqlite_closer>;

/// Reads up to `n` bytes from the start of the file at `p`; 0 when it cannot be opened or read.
inline std::size_t read_head(const std::filesystem::path& p, char* buf, std::size_t n) noexcept {
  unique_fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  std::size_t got = 0;
  while (fd && got < n) {
    const ssize_t r = ::read(fd.get(), buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

/// True when the file starts with SQLite's plain header: an unencrypted database.
inline bool has_plain_header(const std::filesystem::path& p) {
  char buf[16] = {};
  return read_head(p, buf, sizeof buf) == 16 && std::memcmp(buf, "SQLite format 3", 16) == 0;
}

/// Why writing `file` may have failed, as "; REASON", when it can be told from outside SQLite
/// (which reports both only as "disk I/O error"): the process's file size limit reached
/// (EFBIG; SIGXFSZ is ignored by the program) or no space left on its filesystem. Else empty.
inline std::string write_failure_cause(const std::filesystem::path& file) {
  struct rlimit lim {};
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && ::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      static_cast<rlim_t>(st.st_size) + 65536 >= lim.rlim_cur)
    return "; " + errno_text(EFBIG) + " (the file size limit, ulimit -f, of " + std::to_string(lim.rlim_cur) +
           " bytes was reached)";
  struct statvfs fs {};
  if (::statvfs(file.parent_path().c_str(), &fs) == 0 && fs.f_bavail * fs.f_frsize < 65536)
    return "; " + errno_text(ENOSPC) + " in " + file.parent_path().string();
  return {};
}

/// Classifies a database file by its first bytes (see classify_database_head).
inline database_kind classify_database_file(const std::filesystem::path& p) {
  char buf[database_head_bytes];
  return classify_database_head(buf, read_head(p, buf, sizeof buf));
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
    if (sqlite3_prepare_v2(raw, "PRAGMA cipher_version", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
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

using hone::backup::statement;

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

/// The busy handler behind set_busy_timeout(); `arg` holds the timeout in milliseconds.
inline int busy_retry(void* arg, int attempts) noexcept {
  using clock = std::chrono::steady_clock;
  // A connection waits on the thread that called into SQLite, one wait at a time, so the
  // start of the current wait can live in the thread.
  thread_local clock::time_point started;
  // xorshift64 seeded per thread: enough to keep waiting threads out of step.
  thread_local std::uint64_t state = (std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
                                      static_cast<std::uint64_t>(clock::now().time_since_epoch().count())) |
                                     1;
  auto jitter = [] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const auto now = clock::now();
  if (attempts == 0) started = now;
  if (now - started >= std::chrono::milliseconds(reinterpret_cast<std::intptr_t>(arg))) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(200 + jitter() % 1000));
  return 1;
}

/// Like sqlite3_busy_timeout(), but retrying every 0.2-1.2 ms (randomised) instead of backing
/// off to 100 ms. In rollback-journal mode a writer committing in a loop leaves readers only
/// short gaps; SQLite's back-off can miss every one of them for the whole timeout. Measured
/// with SQLCipher 3.4.1 (SQLite 3.15.2): with sqlite3_busy_timeout(10000) 2 of 20 read locks
/// were not obtained in 10 s; with this handler all 20 within 0.2 s.
inline void set_busy_timeout(sqlite3* db, int ms) {
  if (ms <= 0) {
    sqlite3_busy_handler(db, nullptr, nullptr);
    return;
  }
  sqlite3_busy_handler(db, &busy_retry, reinterpret_cast<void*>(static_cast<std::intptr_t>(ms)));
}

/// A connection whose key has been proven on the schema, with the SQLCipher compatibility
/// generation that opened it.
struct opened_database {
  db_ptr db;
  int compatibility = 0;  ///< 0: the library's default settings; 3: PRAGMA cipher_compatibility = 3
};

/// Opens `path` with `key` and proves the key by reading the schema (SQLCipher only notices a
/// wrong key on the first read). `compatibility` 0 means detect: the linked library's default
/// settings first, then, on SQLCipher 4, `PRAGMA cipher_compatibility = 3` for a file written by
/// SQLCipher 3 with its defaults. 3 or 4 forces that generation. Throws encryption_error when
/// the key does not open the file, database_error for other failures.
inline opened_database open_and_probe(const std::filesystem::path& path, int flags, const database_key& key,
                                      int busy_timeout_ms, int compatibility = 0) {
  auto attempt = [&](int compat, int& rc) {
    opened_database o{open_database(path, flags, key), compat};
    set_busy_timeout(o.db.get(), busy_timeout_ms);
    // Must precede the first read; harmless on a plain file (no codec), never sent unkeyed.
    if (compat != 0 && !key.empty()) exec(o.db.get(), "PRAGMA cipher_compatibility = " + std::to_string(compat));
    rc = probe_schema(o.db.get());
    return o;
  };
  int rc = SQLITE_OK;
  opened_database o = attempt(compatibility, rc);
  if (rc == SQLITE_OK) return o;
  if (is_not_a_database(rc) && !key.empty() && compatibility == 0 && sqlcipher_major() >= 4) {
    int rc3 = SQLITE_OK;
    opened_database o3 = attempt(3, rc3);
    if (rc3 == SQLITE_OK) return o3;
  }
  if (is_not_a_database(rc)) {
    if (key.empty())
      throw encryption_error("Cannot read " + path.string() + ": the file is encrypted or is not a database");
    // SQLCipher 3 cannot read SQLCipher 4 files at all: say so rather than only blaming the key.
    if (sqlcipher_major() == 3)
      throw encryption_error("Cannot open " + path.string() +
                             ": the key does not match, the file is not a database, or it was written by "
                             "SQLCipher 4, which the linked SQLCipher " +
                             sqlcipher_version() + " cannot read");
    throw encryption_error("Cannot open " + path.string() + ": the key does not match (or the file is not a database)");
  }
  throw database_error("Cannot read " + path.string() + ": " + errmsg(o.db.get()));
}

/// sqlcipher_export() copies the schema and the rows but not the header values an application
/// keeps in the file: PRAGMA user_version (often the schema migration number) and
/// application_id. Call inside the same read transaction as the export.
inline void copy_header_values(sqlite3* db, const std::string& from_schema, const std::string& to_schema) {
  for (const char* name : {"user_version", "application_id"}) {
    std::int64_t v = 0;
    {
      statement s(db, "PRAGMA " + from_schema + "." + name);
      if (s.step()) v = s.column_int(0);
    }
    // Both are 32-bit signed in the header; the value came from SQLite, so it is in range.
    exec(db, "PRAGMA " + to_schema + "." + name + " = " + std::to_string(v));
  }
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

// ---- RAII for the pieces of the C API that must be undone --------------------------------

/// BEGIN (IMMEDIATE when asked) now; ROLLBACK when destroyed unless commit() succeeded.
class transaction {
 public:
  explicit transaction(sqlite3* db, bool immediate = false) : db_(db) {
    exec(db_, immediate ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  /// Takes over a transaction `db` has begun already (e.g. by hold_still()).
  static transaction adopt(sqlite3* db) noexcept { return transaction(db, adopted{}); }
  transaction(transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  transaction& operator=(transaction&& o) noexcept {
    if (this != &o) {
      rollback();
      db_ = std::exchange(o.db_, nullptr);
    }
    return *this;
  }
  ~transaction() { rollback(); }
  void commit() {
    exec(db_, "COMMIT");
    db_ = nullptr;
  }

 private:
  struct adopted {};
  transaction(sqlite3* db, adopted) noexcept : db_(db) {}
  void rollback() noexcept {
    if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  sqlite3* db_;
};

/// A read transaction whose snapshot starts at once: BEGIN, then a read of the schema (SQLite
/// takes the snapshot at the first read). Every statement until it ends sees that snapshot.
/// Ended (COMMIT, which for a read transaction only releases the snapshot) when destroyed.
class read_transaction {
 public:
  explicit read_transaction(sqlite3* db) : tx_(db) { exec(db, "SELECT count(*) FROM sqlite_master"); }
  void end() { tx_.commit(); }

 private:
  transaction tx_;
};

/// A database ATTACHed under `schema` with a key bound as a parameter; DETACHed when destroyed.
class attached_database {
 public:
  attached_database(sqlite3* db, const std::filesystem::path& file, std::string schema, const database_key& key)
      : db_(db), schema_(std::move(schema)) {
    statement attach(db_, "ATTACH DATABASE ?1 AS " + schema_ + " KEY ?2");
    attach.bind(1, file.string());
    attach.bind(2, key.expose_secret());
    attach.step();
  }
  attached_database(const attached_database&) = delete;
  attached_database& operator=(const attached_database&) = delete;
  ~attached_database() { sqlite3_exec(db_, ("DETACH DATABASE " + schema_).c_str(), nullptr, nullptr, nullptr); }
  const std::string& schema() const noexcept { return schema_; }

 private:
  sqlite3* db_;
  std::string schema_;
};

/// Copies every page of `src`'s main database into `dst`'s with the online backup API in one
/// step (-1), finishing the backup object whatever happens. Throws database_error.
inline void copy_pages(sqlite3* dst, sqlite3* src) {
  struct finisher {
    void operator()(sqlite3_backup* b) const noexcept { sqlite3_backup_finish(b); }
  };
  std::unique_ptr<sqlite3_backup, finisher> b(sqlite3_backup_init(dst, "main", src, "main"));
  if (!b) throw database_error(errmsg(dst));
  const int rc = sqlite3_backup_step(b.get(), -1);
  const int rc_finish = sqlite3_backup_finish(b.release());
  if (rc != SQLITE_DONE) throw database_error(sqlite3_errstr(rc));
  if (rc_finish != SQLITE_OK) throw database_error(errmsg(dst));
}

}  // namespace hone::backup::detail
