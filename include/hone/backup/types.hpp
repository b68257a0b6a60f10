// Plain value types exchanged between BackupRunner, its policies and callers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::backup {

using time_point = std::chrono::system_clock::time_point;

/// Called with the number of bytes processed so far (monotonic). May be empty.
using progress_fn = std::function<void(std::uint64_t done)>;

/// One count query of an Exporter: a label for the caller and an SQL statement whose first
/// column of its first row is the count ("SELECT COUNT(*) FROM orders").
struct count_query {
  std::string label;
  std::string sql;
};

/// The result of one count query; the value is absent when the query failed because a table
/// it reads does not exist (or the query is empty).
struct row_count {
  std::string label;
  std::optional<std::int64_t> value;
  friend bool operator==(const row_count&, const row_count&) = default;
};

/// The results of an Exporter's count queries, in the order of the queries, all read from one
/// snapshot. counts["orders"] gives the value of the query labelled "orders" (absent when there
/// is no such label or the table does not exist).
class row_counts {
 public:
  row_counts() = default;
  row_counts(std::initializer_list<row_count> items) : items_(items) {}

  void add(std::string label, std::optional<std::int64_t> value) { items_.push_back({std::move(label), value}); }
  std::optional<std::int64_t> operator[](std::string_view label) const {
    for (const auto& c : items_)
      if (c.label == label) return c.value;
    return std::nullopt;
  }
  const std::vector<row_count>& items() const noexcept { return items_; }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  friend bool operator==(const row_counts&, const row_counts&) = default;

 private:
  std::vector<row_count> items_;
};

/// What an Exporter reports about the snapshot it wrote.
struct export_result {
  row_counts counts;        ///< read from the same snapshot that was exported
  bool encrypted = false;   ///< the exported file is encrypted
  std::uint64_t bytes = 0;  ///< size of the exported (uncompressed) file
};

/// What an Exporter reports after opening a database file with its key and checking it.
struct check_result {
  bool valid = false;
  std::string message;  ///< "ok", or why the file is not valid
  row_counts counts;
  bool encrypted = false;
  bool wrong_key = false;    ///< the file did not open with the key (or is not a database)
  bool key_missing = false;  ///< the file is encrypted and no key was given
  /// the file is a valid plain (unencrypted) database although a key is configured
  bool unencrypted_with_key = false;
};

/// What an Exporter tells from the first bytes of a file (see Exporter::inspect_head).
struct head_info {
  bool encrypted = false;
  std::string problem;  ///< empty, or why the bytes are not the start of an exported file
};

/// What a Compressor reports after compressing a stream.
struct compress_result {
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  bool compressed = false;  ///< output holds compressed data (false: stored as-is)
};

/// What a Compressor tells from the beginning of a stream it wrote.
struct peek_result {
  std::size_t bytes = 0;    ///< how many decompressed bytes were placed in the buffer
  bool compressed = false;  ///< the stream holds compressed data (false: stored as-is)
  /// The stream is encrypted by the Compressor (an encrypting Compressor, see
  /// docs/Compressor.md) and was not opened: `bytes` is 0, and the content counts as encrypted.
  bool sealed = false;
};

/// What the runner learned about a backup's content when it created it. A Destination that
/// keeps it (the optional member `annotate`) and gives it back in list() saves the runner from
/// reading the first bytes of every backup (one download each for a remote destination).
struct content_info {
  bool encrypted = false;  ///< the database inside is encrypted
  bool deflated = false;   ///< the data actually shrank (see backup_info::deflated)
  /// Non-empty: the content is not a backup, and why (the runner records it so that an object
  /// that is not a backup is not read again on every list; encrypted and deflated are then
  /// meaningless).
  std::string problem{};
  friend bool operator==(const content_info&, const content_info&) = default;
};

/// One stored object as a Destination sees it.
struct stored_entry {
  std::string name;
  std::uint64_t size = 0;
  time_point modified{};
  std::string location;  ///< a path or URL a person can use to find the object
  /// A local file's owner when it is not the user running this ("nobody (uid 65534)"); empty
  /// when it is, and for destinations without owners.
  std::string owner{};
  /// Set by destinations that keep what annotate() was told (empty: the runner reads the
  /// object's first bytes to find out).
  std::optional<content_info> content{};
  /// Hex SHA-256 of the stored bytes, set by destinations that keep a record of it checked
  /// against the object (s3_destination: written at upload, once the object read back with the
  /// size and ETag of what was sent, and valid while the object's size and ETag are those);
  /// empty when unknown.
  std::string sha256{};
};

// ---- What BackupRunner returns ----------------------------------------------------------

/// A backup as create/list/get report it.
struct backup_info {
  std::string name;
  std::string path;         ///< where the Destination keeps it
  std::string owner;        ///< stored_entry::owner: another user's file ("nobody (uid 65534)"), else empty
  std::uint64_t size = 0;   ///< stored (compressed) size in bytes
  time_point created_at{};  ///< from the name's timestamp, else the file's modification time
  bool encrypted = false;   ///< read from the file: it does not start with "SQLite format 3"
  /// The backup is in the Compressor's format (for gzip_compressor: a gzip .db.gz file),
  /// whether or not its data shrank. See `deflated` for that.
  bool compressed = false;
  /// The data inside is actually compressed; false when it is stored as-is (ciphertext does
  /// not shrink, so the gzip compressor stores encrypted pages in stored blocks).
  bool deflated = false;
  row_counts counts;  ///< filled by create only
  /// list/get: non-empty when the file is not a usable backup (not in the Compressor's format,
  /// empty, or its content is not an SQLite/SQLCipher database). Such files never count as
  /// backups: prune keeps them and does not count them, the scheduler ignores them.
  std::string problem;
  /// Hex SHA-256 of the stored bytes when the Destination keeps a checked record of it
  /// (stored_entry::sha256); empty when unknown.
  std::string sha256;
};

/// A backup prune kept, with the rules that kept it ("last", "daily", ..., or "time unknown").
struct retained_backup {
  std::string name;
  std::vector<std::string> reasons;
};

struct prune_result {
  bool dry_run = false;                   ///< nothing was deleted: deleted_* say what would have been
  std::string policy;                     ///< the policy's describe()
  std::vector<retained_backup> retained;  ///< newest first
  std::size_t deleted_count = 0;
  std::vector<std::string> deleted_names;
  std::size_t retained_count = 0;
  std::uint64_t bytes_freed = 0;
  /// Files named like backups that are not backups (see backup_info::problem): never deleted,
  /// never counted among the kept.
  std::vector<std::string> skipped_names;
};

struct verify_result {
  bool valid = false;
  std::string name;
  row_counts counts;
  bool encrypted = false;
  bool wrong_key = false;    ///< the key does not open the backup
  bool key_missing = false;  ///< the backup is encrypted and no key was given
  std::string message;
};

struct restore_result {
  bool restored = false;
  std::string backup_name;
  std::string message;
  std::filesystem::path database;
  std::filesystem::path pre_restore_copy;  ///< empty when there was no database to keep
};

}  // namespace hone::backup
