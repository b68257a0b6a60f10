// A database as a plain SQLite image, streamed page by page through SQLite's sqlite_dbpage
// table (SQLITE_ENABLE_DBPAGE_VTAB): page_reader reads the pages a keyed connection decrypts,
// page_loader writes an image's pages through a keyed connection, which encrypts each page as
// its pager writes it. Neither ever puts a decrypted page in a file: only one page at a time is
// held, in memory (an image page_loader must convert goes through a sealed_scratch file,
// encrypted under a key of its own).
#pragma once

#include <hone/backup/detail/database_head.hpp>
#include <hone/backup/detail/posix.hpp>
#include <hone/backup/detail/sealed_scratch.hpp>
#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/key.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

// The page formats need SQLite 3.36 or later (sqlite_dbpage, SQLITE_FCNTL_RESERVE_BYTES and
// sqlite3_deserialize built in). With an older SQLite, such as Debian 12's SQLCipher 3.4.1
// (SQLite 3.15.2), the library still compiles and has_dbpage_table() is false, so the compact
// format says it is unavailable.
#if SQLITE_VERSION_NUMBER >= 3036000
#define HONE_BACKUP_DETAIL_PAGE_FORMATS 1
#else
#define HONE_BACKUP_DETAIL_PAGE_FORMATS 0
#endif

namespace hone::backup::detail {

/// Where page 1 keeps the number of reserved bytes at the end of every page (SQLCipher keeps
/// each page's IV and HMAC there).
inline constexpr std::size_t header_reserved_offset = 20;

/// The page size an SQLite header gives (bytes 16-17, big-endian; 1 means 65536); 0 when the
/// bytes are no plain SQLite header.
inline std::size_t header_page_size(std::span<const std::byte> head) {
  if (!is_plain_header(head.data(), head.size()) || head.size() < 100) return 0;
  const unsigned v = (std::to_integer<unsigned>(head[16]) << 8) | std::to_integer<unsigned>(head[17]);
  const std::size_t size = v == 1 ? 65536 : v;
  return size >= 512 && (size & (size - 1)) == 0 ? size : 0;
}

/// Makes an SQLite header say rollback-journal mode (file format versions 1, bytes 18-19) where it
/// says WAL (2), as `PRAGMA journal_mode = DELETE` does: the image is then a self-contained file
/// that opens without a -wal beside it (and that sqlite3_deserialize accepts).
inline void header_without_wal(std::span<std::byte> head) {
  for (std::size_t i : {std::size_t{18}, std::size_t{19}})
    if (head.size() > i && head[i] == std::byte{2}) head[i] = std::byte{1};
}

/// True when SQLite was built with the sqlite_dbpage table the page formats need.
inline bool has_dbpage_table() {
  return HONE_BACKUP_DETAIL_PAGE_FORMATS && sqlite3_compileoption_used("ENABLE_DBPAGE_VTAB") != 0;
}

/// Reads the pages of `db`'s main database, decrypted, in order, as one plain SQLite image:
/// the reserved bytes at the end of every page (SQLCipher's IV and HMAC of the encrypted page,
/// meaningless once it is decrypted) are zeroed, so that the image compresses well and reveals
/// nothing of the encrypted file; the header says rollback-journal mode (header_without_wal),
/// like the default format's copy. The caller holds the read transaction. One page in memory.
class page_reader final : public reader {
 public:
  page_reader(sqlite3* db, progress_fn progress)
      : pages_(db, "SELECT pgno, data FROM sqlite_dbpage('main')"), progress_(std::move(progress)) {}

  std::size_t read(std::span<std::byte> buf) override {
    std::size_t got = 0;
    while (got < buf.size()) {
      if (pos_ == page_.size() && !next_page()) break;
      const std::size_t n = std::min(buf.size() - got, page_.size() - pos_);
      std::memcpy(buf.data() + got, page_.data() + pos_, n);
      pos_ += n;
      got += n;
    }
    return got;
  }
  /// Bytes handed out so far.
  std::uint64_t bytes() const noexcept { return bytes_; }
  /// True once every page was read.
  bool done() const noexcept { return done_; }

  ~page_reader() override { secure_wipe(page_.data(), page_.size()); }

 private:
  bool next_page() {
    if (done_ || !pages_.step()) {
      done_ = true;
      return false;
    }
    const auto pgno = pages_.column_int(0);
    const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(pages_.get(), 1));
    const auto size = static_cast<std::size_t>(sqlite3_column_bytes(pages_.get(), 1));
    if (pgno != expected_ || size < 512 || (page_size_ != 0 && size != page_size_))
      throw export_error("sqlite_dbpage returned page " + std::to_string(pgno) + " of " + std::to_string(size) +
                         " bytes where page " + std::to_string(expected_) + " was due");
    page_.assign(data, data + size);
    if (pgno == 1) {
      if (header_page_size(page_) != size) throw export_error("page 1 of the database is not a plain SQLite header");
      page_size_ = size;
      reserved_ = std::to_integer<std::size_t>(page_[header_reserved_offset]);
      header_without_wal(page_);
    }
    std::fill(page_.end() - static_cast<std::ptrdiff_t>(reserved_), page_.end(), std::byte{0});
    ++expected_;
    pos_ = 0;
    bytes_ += size;
    if (progress_) progress_(bytes_);
    return true;
  }

  statement pages_;
  progress_fn progress_;
  std::vector<std::byte> page_;
  std::size_t pos_ = 0;
  std::size_t page_size_ = 0;
  std::size_t reserved_ = 0;
  std::int64_t expected_ = 1;
  std::uint64_t bytes_ = 0;
  bool done_ = false;
};

/// SQLCipher 4's default key derivation: PBKDF2-HMAC-SHA512, 256000 iterations, 32 bytes.
inline constexpr int sqlcipher4_kdf_iterations = 256000;

/// The key SQLCipher 4 (default settings) derives from `passphrase` for a new file whose salt
/// is `salt`, in SQLCipher's raw form with that salt (database_key::raw of 48 bytes): a
/// connection keyed with it writes exactly the file the passphrase would, without running
/// PBKDF2 itself. Empty when OpenSSL fails.
inline database_key sqlcipher4_derived_key(const database_key& passphrase, const std::array<unsigned char, 16>& salt) {
  std::array<std::byte, 48> raw{};
  const auto pass = passphrase.expose_secret();
  const bool ok =
      PKCS5_PBKDF2_HMAC(pass.data(), static_cast<int>(pass.size()), salt.data(), 16, sqlcipher4_kdf_iterations,
                        EVP_sha512(), 32, reinterpret_cast<unsigned char*>(raw.data())) == 1;
  std::memcpy(raw.data() + 32, salt.data(), salt.size());
  database_key k = ok ? database_key::raw(raw) : database_key{};
  secure_wipe(raw.data(), raw.size());
  return k;
}

/// A raw key of 32 random bytes, for a file no one opens after this process: empty when the
/// random source fails.
inline database_key single_use_key() {
  std::array<std::byte, 32> raw{};
  database_key k;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) == 1)
    k = database_key::raw(raw);
  secure_wipe(raw.data(), raw.size());
  return k;
}

/// Writes a plain SQLite image (as page_reader makes it) into a new database file through a
/// keyed connection (no key: a plain database), page by page with
/// `INSERT INTO sqlite_dbpage`, in one transaction. With a key, SQLCipher encrypts every page as
/// the pager writes it: the file is ciphertext from its first byte. That needs the image to
/// keep the reserved bytes per page the key's cipher settings need, as an image a database
/// with that key gave does. Any other image (one made by plain sqlite3 has none) goes to a
/// sealed_scratch file beside the target instead (encrypted under a random key of its own) and
/// is copied from there with sqlcipher_export() into the keyed file: nothing decrypted on disk,
/// memory independent of the image's size, but disk space for the image twice. finish()
/// commits, and for a durable file fsyncs it; connection() then reads the file with the key it
/// was written with.
///
/// The key of the file: a durable file (a restore) gets `key`, the database's own. A scratch
/// file (a copy being verified, deleted afterwards) gets a random single-use raw key with the
/// same cipher settings, which costs no key derivation. For the durable file, when `key` is a
/// passphrase and SQLCipher 4's defaults apply, the loader derives SQLCipher's key itself on
/// a second thread from the moment it is made (while the backup's first bytes are decrypted)
/// and keys the file with the result in raw form: the file is the one the passphrase would
/// give, and opens with it. Pages that arrive before that key wait in memory (up to 8 MiB).
class page_loader final : public writer {
 public:
  page_loader(std::filesystem::path file, const database_key& key, int compatibility, durability d)
      : file_(std::move(file)), key_(key), compatibility_(compatibility), durability_(d) {
    if (key.empty()) return;
    if (d == durability::scratch) {
      load_key_ = single_use_key();
    } else if ((compatibility == 0 || compatibility == 4) && sqlcipher_major() >= 4 && !is_raw_key(key)) {
      std::array<unsigned char, 16> salt{};
      if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) == 1)
        derived_ = std::async(std::launch::async, [this, salt] { return sqlcipher4_derived_key(key_, salt); });
    }
  }
  ~page_loader() override {
    secure_wipe(page_.data(), page_.size());
    secure_wipe(waiting_.data(), waiting_.size());
  }

  void write(std::span<const std::byte> data) override {
    while (!data.empty()) {
      if (page_size_ == 0 && !learn_page_size(data)) return;
      const std::size_t n = std::min(data.size(), page_size_ - page_.size());
      page_.insert(page_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      data = data.subspan(n);
      if (page_.size() == page_size_) store_page();
    }
  }

  /// Commits the pages; throws corrupt_backup_error when the image is empty or ends inside a
  /// page, or its size disagrees with its header.
  void finish() {
    if (pgno_ == 1 || !page_.empty())
      throw corrupt_backup_error("The backup's database image is " +
                                 std::string(pgno_ == 1 ? "empty or shorter than one page" : "cut inside a page"));
    if (!opened()) open_with_waiting_pages();
    if (converting_) {
      convert_image();
    } else {
      insert_.reset();
      tx_->commit();
      tx_.reset();
      db_.reset();  // closes the file: every page is in it
    }
    // For the check: a connection that knows the new schema and reads every page back from
    // the file (each one decrypted and its HMAC verified). The key in use is a raw one (no
    // derivation) unless SQLCipher derives it (see the class comment).
    db_ = open_and_probe(file_, SQLITE_OPEN_READONLY, file_key(), 0, compatibility_).db;
    if (durability_ == durability::durable) {
      // The descriptor open since before the load (a write-back error that happened meanwhile
      // is reported to it), else a new one.
      unique_fd fd = writeback_fd_ ? std::move(writeback_fd_) : unique_fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) throw io_error("Failed to sync " + file_.string() + ": " + errno_text(errno));
      fsync_checked(fd.get(), "Failed to sync " + file_.string());
    }
  }

  /// After finish(): a read-only connection to the file, keyed as the file is, for the check;
  /// the loader closes it when destroyed.
  sqlite3* connection() const noexcept { return db_.get(); }

 private:
  /// Page 1's header gives the page size; its first 100 bytes are kept until they are all in.
  bool learn_page_size(std::span<const std::byte>& data) {
    const std::size_t n = std::min(data.size(), std::size_t{100} - page_.size());
    page_.insert(page_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
    if (page_.size() < 100) return false;
    page_size_ = header_page_size(page_);
    header_without_wal(page_);
    if (page_size_ == 0) throw corrupt_backup_error("The backup does not hold a plain SQLite database image");
    reserved_ = std::to_integer<int>(page_[header_reserved_offset]);
    return true;
  }

  /// Whether the pages must wait in memory (up to waiting_limit) for the key being derived,
  /// while the backup goes on being decrypted and inflated.
  bool waiting_for_key() const {
    return derived_.valid() && derived_.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
           waiting_.size() + page_size_ <= waiting_limit;
  }

  /// Whether open_target() ran: the pages then go to the target (or its scratch file).
  bool opened() const noexcept { return converting_ || insert_.has_value(); }

  /// The target opened (see open_target), then the pages that waited for it stored in order
  /// (they are the ones before pgno_).
  void open_with_waiting_pages() {
    open_target(reserved_);
    std::int64_t pgno = pgno_ - static_cast<std::int64_t>(waiting_.size() / page_size_);
    for (std::size_t off = 0; off < waiting_.size(); off += page_size_)
      put_page(std::span<std::byte>(waiting_).subspan(off, page_size_), pgno++);
    waiting_ = {};
  }

  /// A raw key (`x'...'`) needs no derivation: it is used as it is.
  static bool is_raw_key(const database_key& key) { return key.expose_secret().starts_with("x'"); }

  /// The key the file is written with (see the class comment); the derived one once it is there.
  const database_key& file_key() {
    if (derived_.valid()) {
      load_key_ = derived_.get();
      if (load_key_.empty()) return key_;  // OpenSSL failed: SQLCipher derives it itself
    }
    return load_key_.empty() ? key_ : load_key_;
  }

  /// Whether the connection derives keys as SQLCipher 4's defaults say (an application may
  /// have changed them with `PRAGMA cipher_default_kdf_iter`, for one): only then does the key
  /// derived by sqlcipher4_derived_key give the file the passphrase opens.
  static bool default_kdf(sqlite3* db) {
    statement iter(db, "PRAGMA kdf_iter");
    statement algorithm(db, "PRAGMA cipher_kdf_algorithm");
    return iter.step() && iter.column_int(0) == sqlcipher4_kdf_iterations && algorithm.step() &&
           algorithm.column_text(0) == "PBKDF2_HMAC_SHA512";
  }

  void open_target(int reserved) {
    db_ = open_database(file_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, file_key());
    if (durability_ == durability::durable && !load_key_.empty() && !default_kdf(db_.get())) {
      load_key_ = database_key{};
      db_ = open_database(file_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, key_);
    }
    sqlite3* db = db_.get();
    const std::string size = std::to_string(page_size_);
    if (!key_.empty()) {
      if (compatibility_ != 0) exec(db, "PRAGMA cipher_compatibility = " + std::to_string(compatibility_));
      exec(db, "PRAGMA cipher_page_size = " + size);
    }
    exec(db, "PRAGMA page_size = " + size);
    exec(db, "PRAGMA journal_mode = OFF");  // a new file: nothing to roll back to
    exec(db, "PRAGMA synchronous = OFF");   // finish() syncs once
    int needed = -1;
#if HONE_BACKUP_DETAIL_PAGE_FORMATS
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &needed);
#endif
    if (needed != reserved) {
      converting_ = true;  // see convert_image()
      db_.reset();
      scratch_.emplace(file_);
      return;
    }
    tx_.emplace(db);
    insert_.emplace(db, "INSERT INTO sqlite_dbpage(schema, pgno, data) VALUES('main', ?1, ?2)");
    if (durability_ == durability::durable) writeback_fd_ = unique_fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
  }

  void store_page() {
    if (!opened() && waiting_for_key()) {
      if (waiting_.empty()) waiting_.reserve(waiting_limit);  // no reallocation leaves a copy behind
      waiting_.insert(waiting_.end(), page_.begin(), page_.end());
    } else {
      if (!opened()) open_with_waiting_pages();
      put_page(page_, pgno_);
    }
    secure_wipe(page_.data(), page_.size());
    page_.clear();
    ++pgno_;
  }

  /// Stores `page` as page `pgno` in the target (or its scratch file) and wipes it.
  void put_page(std::span<std::byte> page, std::int64_t pgno) {
    if (converting_) {
      scratch_->write(page);
    } else {
      insert_->bind(1, pgno);
      insert_->bind_blob(2, page.data(), page.size());
      try {
        insert_->step();
      } catch (const database_error& e) {
        throw corrupt_backup_error("page " + std::to_string(pgno) +
                                   " of the backup's image cannot be written: " + e.what());
      }
      insert_->reset();
      if (writeback_fd_) writeback_.advance(writeback_fd_.get(), static_cast<std::uint64_t>(pgno) * page_size_);
    }
    secure_wipe(page.data(), page.size());
  }

  /// An image whose reserved bytes differ from what the target needs: the scratch file that
  /// holds it is opened, read-only and unkeyed, through its decrypting VFS, and copied with
  /// sqlcipher_export() into the target, keyed; then the scratch goes.
  void convert_image() {
#if !HONE_BACKUP_DETAIL_PAGE_FORMATS
    throw database_error(std::string("the page formats need SQLite 3.36 or later; this build links SQLite ") +
                         sqlite3_libversion());
#else
    db_ptr image = scratch_->open();
    sqlite3* raw = image.get();
    try {
      attached_database target(raw, file_, "hone_restore_target", file_key());
      if (compatibility_ != 0 && !key_.empty())
        exec(raw, "PRAGMA hone_restore_target.cipher_compatibility = " + std::to_string(compatibility_));
      exec(raw, "PRAGMA hone_restore_target.journal_mode = OFF");
      exec(raw, "PRAGMA hone_restore_target.synchronous = OFF");
      exec(raw, "SELECT sqlcipher_export('hone_restore_target')");
      copy_header_values(raw, "main", "hone_restore_target");
    } catch (const database_error& e) {
      scratch_->throw_if_read_failed();  // the disk, not the backup
      if (const std::string cause = write_failure_cause(file_); !cause.empty())
        throw io_error("The backup's database image cannot be written to " + file_.string() + ": " + e.what() + cause);
      throw corrupt_backup_error(std::string("The backup's database image cannot be copied: ") + e.what());
    }
    image.reset();
    scratch_.reset();
#endif
  }

  std::filesystem::path file_;
  const database_key& key_;
  int compatibility_;
  durability durability_;
  database_key load_key_;              // the single-use or the derived key, when one is used
  std::future<database_key> derived_;  // the derivation under way (see the class comment)
  db_ptr db_;
  std::optional<transaction> tx_;  // destroyed before db_: rolled back while it is open
  std::optional<statement> insert_;
  std::vector<std::byte> page_;
  std::optional<sealed_scratch> scratch_;  // convert_image()'s pages, encrypted
  bool converting_ = false;
  int reserved_ = 0;                // the image's reserved bytes per page (page 1's header)
  std::vector<std::byte> waiting_;  // pages waiting for the key (waiting_for_key)
  static constexpr std::size_t waiting_limit = std::size_t{8} << 20;
  unique_fd writeback_fd_;  // a durable file's: its write-back starts as the pages go in
  writeback_pacer writeback_;
  std::size_t page_size_ = 0;
  std::int64_t pgno_ = 1;
};

}  // namespace hone::backup::detail
