// Plain value types exchanged between BackupRunner, its policies and callers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hone::backup {

using time_point = std::chrono::system_clock::time_point;

/// Called with the number of bytes processed so far (monotonic). May be empty.
using progress_fn = std::function<void(std::uint64_t done)>;

/// Row counts read from a database. A count is absent when its table does not exist.
struct table_counts {
  std::optional<std::int64_t> accounts;
  std::optional<std::int64_t> transactions;
  std::optional<std::int64_t> subscriptions;
  friend bool operator==(const table_counts&, const table_counts&) = default;
};

/// What an Exporter reports about the snapshot it wrote.
struct export_result {
  table_counts counts;      ///< read from the same snapshot that was exported
  bool encrypted = false;   ///< the exported file is encrypted
  std::uint64_t bytes = 0;  ///< size of the exported (uncompressed) file
};

/// What an Exporter reports after opening a database file with its key and checking it.
struct check_result {
  bool valid = false;
  std::string message;  ///< "ok", or why the file is not valid
  table_counts counts;
  bool encrypted = false;
  bool wrong_key = false;    ///< the file did not open with the key (or is not a database)
  bool key_missing = false;  ///< the file is encrypted and no key was given
  /// the file is a valid plain (unencrypted) database although a key is configured
  bool unencrypted_with_key = false;
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
};

/// What the runner learned about a backup's content when it created it. A Destination that
/// keeps it (the optional member `annotate`) and gives it back in list() saves the runner from
/// reading the first bytes of every backup (one download each for a remote destination).
struct content_info {
  bool encrypted = false;  ///< the database inside is encrypted
  bool deflated = false;   ///< the data actually shrank (see backup_info::deflated)
  friend bool operator==(const content_info&, const content_info&) = default;
};

/// One stored object as a Destination sees it.
struct stored_entry {
  std::string name;
  std::uint64_t size = 0;
  time_point modified{};
  std::string location;  ///< a path or URL a person can use to find the object
  /// Set by destinations that keep what annotate() was told (empty: the runner reads the
  /// object's first bytes to find out).
  std::optional<content_info> content{};
};

}  // namespace hone::backup
