// The single error scheme of hone-backup: every failure is a hone::backup::error carrying a
// stable numeric code (errc) and a message meant for the person running the backup.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hone::backup {

/// Stable error codes. The numbers are part of the API: they never change meaning.
enum class errc : int {
  invalid_name = 1,      ///< a backup name that is not a plain file name
  not_found = 2,         ///< "Backup not found: NAME"
  already_exists = 3,    ///< a backup with that name exists already; nothing was overwritten
  directory_access = 4,  ///< "Failed to access backup directory: DIR: REASON"
  export_failed = 5,     ///< "sqlcipher_export failed: REASON", whichever way the copy was made
                         ///< (sqlcipher_export() or the online backup API, "...: online backup: ...")
  encryption = 6,        ///< wrong key, or a key given for a plain file
  corrupt_backup = 7,    ///< truncated or damaged backup file
  database_exists = 8,   ///< restore target exists and force was not given
  invalid_argument = 9,  ///< e.g. prune with keep < 1
  io = 10,               ///< reading or writing a file failed (disk full, permissions)
  database = 11,         ///< SQLite/SQLCipher reported an error
  locked = 12,           ///< could not take the backup lock
  /// restore refused: the backup is not encrypted but a key is configured, so restoring it
  /// would leave an unencrypted database where an encrypted one is expected
  unencrypted_backup = 13,
  key_required = 14,        ///< the database or backup is encrypted and no key was given
  not_a_backup = 15,        ///< the file is not a backup (not the Compressor's format, empty, not a database)
  database_busy = 16,       ///< another connection kept the database from being prepared for replacement
  database_not_found = 17,  ///< "Database not found: PATH" (the database to back up or open is missing)
  /// a remote destination (an S3 bucket) could not be reached or refused a request; the
  /// message names the operation, the bucket and key, the HTTP status and the server's code
  remote = 18,
};

/// A short stable identifier for each code, e.g. "not_found".
constexpr std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::invalid_name: return "invalid_name";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::directory_access: return "directory_access";
    case errc::export_failed: return "export_failed";
    case errc::encryption: return "encryption";
    case errc::corrupt_backup: return "corrupt_backup";
    case errc::database_exists: return "database_exists";
    case errc::invalid_argument: return "invalid_argument";
    case errc::io: return "io";
    case errc::database: return "database";
    case errc::locked: return "locked";
    case errc::unencrypted_backup: return "unencrypted_backup";
    case errc::key_required: return "key_required";
    case errc::not_a_backup: return "not_a_backup";
    case errc::database_busy: return "database_busy";
    case errc::database_not_found: return "database_not_found";
    case errc::remote: return "remote";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, errc c) { return os << to_string(c); }

/// Base of every exception the library throws. what() is the user-facing message; it never
/// contains key material.
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

/// The exception type of one code: catch coded_error<errc::not_found> (or its alias,
/// not_found_error) to handle that failure alone, hone::backup::error for all of them.
template <errc Code>
class coded_error : public error {
 public:
  static constexpr errc code_value = Code;
  explicit coded_error(const std::string& message) : error(Code, message) {}
};

using invalid_name_error = coded_error<errc::invalid_name>;
using not_found_error = coded_error<errc::not_found>;
using already_exists_error = coded_error<errc::already_exists>;
using directory_error = coded_error<errc::directory_access>;
using export_error = coded_error<errc::export_failed>;
using encryption_error = coded_error<errc::encryption>;
using corrupt_backup_error = coded_error<errc::corrupt_backup>;
using database_exists_error = coded_error<errc::database_exists>;
using invalid_argument_error = coded_error<errc::invalid_argument>;
using io_error = coded_error<errc::io>;
using database_error = coded_error<errc::database>;
using lock_error = coded_error<errc::locked>;
using unencrypted_backup_error = coded_error<errc::unencrypted_backup>;
using key_required_error = coded_error<errc::key_required>;
using not_a_backup_error = coded_error<errc::not_a_backup>;
using database_busy_error = coded_error<errc::database_busy>;
using database_not_found_error = coded_error<errc::database_not_found>;
using remote_error = coded_error<errc::remote>;

/// The message restore and verify give when the key does not open the backup.
inline constexpr std::string_view wrong_key_message =
    "Restore fails with encryption error: the backup was created with a different key";

}  // namespace hone::backup
