// The format `hone` writes its backups in (README "Backup formats"): gzip (NAME.db.gz, the
// default, what the original Hone reads) or compact (NAME.db.gz.age: the decrypted pages,
// gzip-compressed, encrypted as an age v1 file). Every command reads both. The format comes
// from `--format` (create), the API's "format" (create) or HONE_BACKUP_FORMAT; the age
// recipients and identities from HONE_DB_KEY, HONE_BACKUP_AGE_RECIPIENTS and
// HONE_BACKUP_AGE_IDENTITY.
#pragma once

#include <hone/backup.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace hone_app {

namespace hb = hone::backup;

enum class backup_format { gzip, compact };

/// "gzip" or "compact".
std::string_view format_name(backup_format f) noexcept;

/// The format named `text` ("gzip", "compact"), or none.
std::optional<backup_format> parse_backup_format(std::string_view text);

/// The format of a backup by its name: compact for NAME.db.gz.age, else gzip.
std::string_view format_of_backup(std::string_view backup_name) noexcept;

/// The scrypt work factor (log2 N) of the compact backups `hone` writes: 2^15 needs 32 MiB,
/// which keeps create, verify and restore under 64 MiB; the work factor is in each file.
inline constexpr int compact_log2_work = 15;

/// The format new backups are written in on this thread: the one a scoped_backup_format
/// chose, else HONE_BACKUP_FORMAT (unset or empty: gzip). Throws usage_error for any other value.
backup_format current_backup_format();

/// Chooses the format of the backups created on this thread while it exists (--format, the
/// API's "format").
class scoped_backup_format {
 public:
  explicit scoped_backup_format(std::optional<backup_format> f);
  ~scoped_backup_format();
  scoped_backup_format(const scoped_backup_format&) = delete;
  scoped_backup_format& operator=(const scoped_backup_format&) = delete;

 private:
  std::optional<backup_format> previous_;
};

/// The age settings of the program's compressor: it writes `format`; its recipients are the
/// X25519 keys of HONE_BACKUP_AGE_RECIPIENTS when set, else the HONE_DB_KEY passphrase (scrypt,
/// compact_log2_work); its identities are HONE_DB_KEY and the keys of the HONE_BACKUP_AGE_IDENTITY
/// file. Throws usage_error when a variable is not valid.
hb::age_compressor_options age_settings(backup_format format);

/// Reads and checks the variables of this file once, before HONE_DB_KEY leaves the environment
/// (`hone serve`); throws usage_error for a value that is not valid.
void read_backup_format_environment();

/// Throws usage_error when `format` is compact and there is nothing to encrypt to (neither
/// HONE_DB_KEY nor HONE_BACKUP_AGE_RECIPIENTS).
void require_compact_recipient(backup_format format);

}  // namespace hone_app
