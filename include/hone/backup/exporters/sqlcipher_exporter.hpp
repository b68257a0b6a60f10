// sqlcipher_exporter: the shipped Exporter. It writes a consistent single-file copy of an
// SQLCipher (or plain SQLite) database, keyed like the source, and reads the row counts from
// the very snapshot it copies.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/detail/database_head.hpp>
#include <hone/backup/detail/replace.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/types.hpp>

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hone::backup {

/// How the copy is made. Every method runs inside one read transaction, so the copy, the
/// schema and the counts all come from one snapshot, and in WAL mode writers are never blocked.
enum class export_method {
  /// The fastest that suits the database: backup_api for an encrypted database (its pages
  /// are ciphertext, which no compressor shrinks, so copying them as they are is all that
  /// counts), sqlcipher_export for a plain one (a compact copy without free pages compresses
  /// smaller, and its cost is small next to deflate's). SQLCipher 3 builds always use
  /// sqlcipher_export for encrypted databases.
  automatic,
  /// SELECT sqlcipher_export() into an ATTACHed file: works on every SQLCipher version and
  /// rewrites the file compactly (no free pages).
  sqlcipher_export,
  /// The online backup API stepped once (-1) under the read transaction: copies pages as they
  /// are, several times faster. Needs SQLCipher >= 4 for encrypted databases (same key).
  backup_api,
};

/// How much check() (behind verify and restore) examines. Every level first proves the key
/// (page 1 decrypts and the schema reads) and ends with the counts; the decompression before
/// it has already checked the gzip CRC-32 and length of every byte of the backup.
enum class check_level {
  /// Only that: the backup opens with the key and answers queries.
  readable,
  /// Also every page: `PRAGMA quick_check` walks every b-tree (page structure, cell bounds,
  /// free list, NOT NULL and CHECK constraints) and, on an encrypted database,
  /// `PRAGMA cipher_integrity_check` verifies the HMAC of every page, on a second thread.
  /// Linear in the size of the database, and several times faster than full (see the
  /// README's Performance section).
  quick,
  /// quick, with `PRAGMA integrity_check` instead of quick_check: also proves that every
  /// index holds exactly its table's rows, at the cost of an index lookup per row (each page
  /// that falls out of the cache is decrypted again). The default: verify exists to prove a
  /// backup sound, and an index that disagrees with its table is damage too.
  full,
};

/// Settings of sqlcipher_exporter.
struct sqlcipher_exporter_options {
  database_key key;  ///< empty: the database is plain SQLite
  /// Counts read from the exported snapshot (and by check()), each {label, sql}; none by
  /// default. A query whose table does not exist gives an absent value.
  std::vector<count_query> counts;
  export_method method = export_method::automatic;
  check_level check = check_level::full;
  /// Page cache of the checking connection, in MiB: integrity_check looks up every row in
  /// every index, and on an encrypted database each page that falls out of the cache is
  /// decrypted again; 32 MiB makes it about twice as fast as SQLite's default 2 MiB on a
  /// 250 MB Hone database and keeps restore's peak memory under 64 MiB. 0 = SQLite's default.
  int check_cache_mib = 32;
  int busy_timeout_ms = 10000;  ///< for the rare moments a lock is needed
  /// SQLCipher compatibility generation of the database: 0 = detect (try the library's
  /// default, then 3 for files made by SQLCipher 3), or 3 / 4 to force it.
  int cipher_compatibility = 0;
};

/// Holds a database still while it is replaced (see sqlcipher_exporter::prepare_replace):
/// its write lock, released when this object is destroyed. Empty when there was
/// nothing to hold.
class database_hold {
 public:
  database_hold() = default;
  database_hold(database_hold&&) noexcept = default;
  database_hold& operator=(database_hold&& o) noexcept {
    tx_ = std::move(o.tx_);  // rolled back while its connection is still open
    db_ = std::move(o.db_);
    return *this;
  }
  explicit operator bool() const noexcept { return static_cast<bool>(db_); }

 private:
  friend class sqlcipher_exporter;
  /// Takes over the transaction detail::hold_still began on `db`.
  explicit database_hold(detail::db_ptr db) : db_(std::move(db)), tx_(detail::transaction::adopt(db_.get())) {}
  detail::db_ptr db_;
  detail::transaction tx_ = detail::transaction::adopt(nullptr);  // destroyed first: ROLLBACK, then close
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
    const database_key& key = source_key();
    auto opened = open_checked(db_path_, SQLITE_OPEN_READWRITE, key);
    sqlite3* db = opened.db.get();

    // Create the target ourselves so that it is owner-only from its first byte.
    { file_writer create_owner_only(target, 0600); }

    export_result result;
    result.encrypted = !key.empty();
    try {
      if (uses_backup_api(key))
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

  /// Makes the database at `path` safe to replace by a rename and keeps it so until the
  /// returned hold is destroyed (detail::hold_still): the file is switched to rollback-journal
  /// mode (SQLite checkpoints the WAL into it and removes the -wal file) and the write lock is
  /// taken. From then on the file alone
  /// holds every committed transaction, so nothing is lost whenever the process dies. When another connection is in the
  /// way (a reader that keeps the WAL from being checkpointed, a process that has the database open in WAL mode),
  /// throws database_busy_error and nothing has changed. A file that does not open with the key (or is not a database)
  /// is acceptable only when no -wal or -journal file beside it holds data.
  database_hold prepare_replace(const std::filesystem::path& path) const {
    auto unopenable = [&](const std::string& why) {
      if (detail::pending_sidecar(path))
        throw database_error("Cannot replace " + path.string() + ": " + why +
                             ", and its -wal or -journal file may hold committed transactions; move the "
                             "database and those files elsewhere first");
      return database_hold{};
    };
    const auto kind = detail::classify_database_file(path);
    if (kind == detail::database_kind::empty || kind == detail::database_kind::not_database)
      return unopenable("it is not a database");
    if (kind == detail::database_kind::encrypted && opts_.key.empty())
      return unopenable("it is encrypted and no key was given");
    const database_key& key = kind == detail::database_kind::plain ? no_key() : opts_.key;
    detail::opened_database opened;
    try {
      opened = open_checked(path, SQLITE_OPEN_READWRITE, key);
    } catch (const encryption_error&) {
      return unopenable("it does not open with the key");
    }
    detail::hold_still(opened.db.get(), path.string());
    return database_hold(std::move(opened.db));
  }

  /// How many leading bytes inspect_head() wants (fewer when the file is shorter).
  static constexpr std::size_t head_bytes = detail::database_head_bytes;

  /// What the first bytes of a copy say: SQLite's plain header, SQLCipher ciphertext (which
  /// reads as random), or something that is no database (empty, text, a broken header). The
  /// runner uses it to list backups without decompressing them, and to refuse damaged or
  /// planted content as soon as its first bytes are out.
  head_info inspect_head(std::span<const std::byte> head) const {
    const auto kind = detail::classify_database_head(head.data(), head.size());
    return {kind == detail::database_kind::encrypted, std::string(detail::database_kind_problem(kind))};
  }

  /// Opens `file` with the key, runs the checks of opts.check and the counts.
  check_result check(const std::filesystem::path& file) const {
    check_result r;
    const auto kind = detail::classify_database_file(file);
    if (kind == detail::database_kind::empty || kind == detail::database_kind::not_database) {
      r.message = "not a database: " + std::string(detail::database_kind_problem(kind));
      return r;
    }
    const bool plain = kind == detail::database_kind::plain;
    r.encrypted = !plain;
    if (!plain && opts_.key.empty()) {
      r.key_missing = true;
      r.message = "The backup is encrypted and no key was given";
      return r;
    }
    r.unencrypted_with_key = plain && !opts_.key.empty();
    const database_key& key = plain ? no_key() : opts_.key;
    try {
      auto opened = open_checked(file, SQLITE_OPEN_READONLY, key);
      sqlite3* db = opened.db.get();
      // Every page's HMAC, on a second connection and thread while this one walks the
      // b-trees: the two are independent and each takes about as long as the other.
      std::string cipher_problem;
      std::jthread cipher_check;
      if (!plain && opts_.check != check_level::readable && detail::sqlcipher_major() >= 4)
        cipher_check = std::jthread([&, compatibility = opened.compatibility] {
          try {
            auto second = detail::open_and_probe(file, SQLITE_OPEN_READONLY, key, opts_.busy_timeout_ms, compatibility);
            std::string problems = pragma_rows(second.db.get(), "PRAGMA cipher_integrity_check");
            if (!problems.empty()) cipher_problem = "cipher_integrity_check failed: " + problems;
          } catch (const std::exception& e) {
            cipher_problem = std::string("cipher_integrity_check failed: ") + e.what();
          }
        });
      examine(db, r);
      if (cipher_check.joinable()) cipher_check.join();
      if (!cipher_problem.empty()) {  // the more precise of the two
        r.valid = false;
        r.counts = {};
        r.message = std::move(cipher_problem);
      }
    } catch (const encryption_error& e) {
      r.wrong_key = true;
      r.message = e.what();
    } catch (const error& e) {
      r.message = e.what();
    }
    return r;
  }

 protected:
  using opened_db = detail::opened_database;

  /// The key that opens the source database: none for a plain file. Throws when the database
  /// is missing, is no database, or is encrypted and no key was given.
  const database_key& source_key() const {
    std::error_code ec;
    if (!std::filesystem::exists(db_path_, ec))
      throw database_not_found_error("Database not found: " + db_path_.string());
    const auto kind = detail::classify_database_file(db_path_);
    if (kind == detail::database_kind::empty || kind == detail::database_kind::not_database)
      throw export_error("sqlcipher_export failed: " + db_path_.string() +
                         " is not a database: " + std::string(detail::database_kind_problem(kind)));
    const bool plain = kind == detail::database_kind::plain;
    if (!plain && opts_.key.empty())
      throw key_required_error("The database " + db_path_.string() + " is encrypted and no key was given");
    return plain ? no_key() : opts_.key;
  }

  /// The b-tree checks of opts.check and the counts, on a connection with the key proven: sets
  /// r.valid, r.counts and r.message. Once the key is proven any error is damage, not a wrong
  /// key: a page whose HMAC fails makes the walk stop with an error of its own.
  void examine(sqlite3* db, check_result& r) const {
    std::string problem;
    try {
      if (opts_.check_cache_mib > 0)
        detail::exec(db, "PRAGMA cache_size = -" + std::to_string(opts_.check_cache_mib * 1024));
      if (opts_.check != check_level::readable) {
        const char* pragma = opts_.check == check_level::full ? "integrity_check" : "quick_check";
        std::string result = pragma_rows(db, std::string("PRAGMA ") + pragma);
        if (result != "ok") problem = std::string(pragma) + " failed: " + result;
      }
      if (problem.empty()) r.counts = read_counts(db);
    } catch (const error& e) {
      problem = std::string(opts_.check == check_level::readable ? "reading the counts" : "checking") +
                " failed: " + e.what();
    }
    r.valid = problem.empty();
    if (!r.valid) r.counts = {};
    r.message = r.valid ? "ok" : std::move(problem);
  }

  /// The rows of a check PRAGMA joined with "; ".
  static std::string pragma_rows(sqlite3* db, const std::string& sql) {
    detail::statement s(db, sql);
    std::string rows;
    while (s.step()) rows += (rows.empty() ? "" : "; ") + s.column_text(0);
    return rows;
  }

  bool uses_backup_api(const database_key& key) const {
    const bool possible = key.empty() || detail::sqlcipher_major() >= 4;
    switch (opts_.method) {
      case export_method::automatic: return possible && !key.empty();
      case export_method::backup_api: return possible;
      case export_method::sqlcipher_export: return false;
    }
    return false;
  }

  /// The copy is a private temp file that is compressed at once and then deleted: a crash
  /// loses it whatever we do, so paying for its durability (a journal, an fsync of the whole
  /// copy) buys nothing. The finished backup is made durable by the Destination.
  static void skip_durability(sqlite3* db, const char* schema) {
    detail::exec(db, std::string("PRAGMA ") + schema + ".synchronous = OFF");
    detail::exec(db, std::string("PRAGMA ") + schema + ".journal_mode = OFF");
  }

  static const database_key& no_key() {
    static const database_key k;
    return k;
  }

  /// Opens and proves the key works; detects files written by SQLCipher 3 (see
  /// detail::open_and_probe).
  opened_db open_checked(const std::filesystem::path& path, int flags, const database_key& key) const {
    return detail::open_and_probe(path, flags, key, opts_.busy_timeout_ms, opts_.cipher_compatibility);
  }

  row_counts read_counts(sqlite3* db) const {
    row_counts c;
    for (const auto& q : opts_.counts) c.add(q.label, detail::optional_count(db, q.sql));
    return c;
  }

 private:
  row_counts copy_with_export(sqlite3* db, const std::filesystem::path& target, const database_key& key,
                              int compatibility) const {
    std::optional<detail::attached_database> copy;
    try {
      copy.emplace(db, target, "hone_backup_target", key);
    } catch (const error& e) {
      throw export_error(std::string("sqlcipher_export failed: cannot create the copy: ") + e.what());
    }
    if (compatibility != 0 && !key.empty())
      detail::exec(db, "PRAGMA hone_backup_target.cipher_compatibility = " + std::to_string(compatibility));
    skip_durability(db, "hone_backup_target");
    try {
      detail::read_transaction snapshot(db);
      row_counts counts = read_counts(db);
      detail::exec(db, "SELECT sqlcipher_export('hone_backup_target')");
      detail::copy_header_values(db, "main", "hone_backup_target");
      snapshot.end();
      return counts;
    } catch (const error& e) {
      throw export_error(std::string("sqlcipher_export failed: ") + e.what() + detail::write_failure_cause(target));
    }
  }

  row_counts copy_with_backup_api(sqlite3* src, const std::filesystem::path& target, const database_key& key,
                                  int compatibility) const {
    auto dst = detail::open_database(target, SQLITE_OPEN_READWRITE, key);
    if (compatibility != 0 && !key.empty())
      detail::exec(dst.get(), "PRAGMA cipher_compatibility = " + std::to_string(compatibility));
    skip_durability(dst.get(), "main");
    row_counts counts;
    try {
      detail::read_transaction snapshot(src);
      counts = read_counts(src);
      detail::copy_pages(dst.get(), src);
      snapshot.end();
    } catch (const error& e) {
      throw export_error(std::string("sqlcipher_export failed: online backup: ") + e.what() +
                         detail::write_failure_cause(target));
    }
    // The copy keeps the source's journal mode in its header; make it a self-contained file.
    detail::exec(dst.get(), "PRAGMA journal_mode = DELETE");
    return counts;
  }

  std::filesystem::path db_path_;
  options opts_;
};

static_assert(Exporter<sqlcipher_exporter>);

}  // namespace hone::backup
