// What every command of the `hone` program shares: exit codes, where the database and the
// backups are, the key, temporary files, and the program's wording of library errors. The
// runner is made in runner_factory.hpp.
#pragma once

#include <hone/backup.hpp>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hone_app {

namespace hb = hone::backup;

/// The prefix of the names the program gives its backups (hone-2024-01-15-143022.db.gz, as the
/// description names them): the runners' name_prefix, and the order of listings that merge
/// two places (newest first: the sequence after the prefix breaks ties of created_at).
inline constexpr std::string_view backup_name_prefix = "hone-";

/// Exit codes of the program (documented in the README).
enum exit_code : int {
  exit_ok = 0,       ///< success
  exit_failure = 1,  ///< the operation failed (not found, exists, I/O, wrong key, invalid backup...)
  exit_usage = 2,    ///< the program was called wrongly (unknown option, bad value, invalid name...)
};

/// An error in how the program was called: printed as "error: MESSAGE", exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The live database: --db, else $HONE_DB_PATH, else $XDG_DATA_HOME/hone/hone.db (~/.local/share/hone/hone.db).
/// Absolute.
std::filesystem::path resolve_database(const std::string& option);

/// The backup folder: --dir, else $HONE_BACKUP_DIR, else the data folder's backups/. Absolute.
std::filesystem::path resolve_backup_dir(const std::string& option);

/// True when HONE_DB_KEY is set and not empty.
bool key_configured();

/// The database key derived from $HONE_DB_KEY exactly as the original Hone does
/// (database_key::hone: Argon2id); empty (no encryption) when the variable is unset or empty.
/// The passphrase is never accepted on the command line and never printed.
hb::database_key load_key();

/// Cleans up after the one-shot commands when they are interrupted. Construct it first thing
/// in main(), before any thread starts: it blocks SIGINT, SIGTERM and SIGHUP in every thread
/// and waits for them on a thread of its own; SIGXFSZ is ignored (the write fails with EFBIG
/// and is reported). On a signal it removes every registered temporary file and folder (the
/// runner's private folders and restore's temp file, see make_runner), erases the progress
/// line, and exits with 128+signal. So an interrupted backup of an unencrypted database leaves
/// no plain copy behind. Not for `serve`, which handles signals itself.
class interrupt_cleanup {
 public:
  interrupt_cleanup();
  ~interrupt_cleanup();
  interrupt_cleanup(const interrupt_cleanup&) = delete;
  interrupt_cleanup& operator=(const interrupt_cleanup&) = delete;
};

/// A temporary file to remove if the command is interrupted (and to forget when done).
void register_temp_file(const std::filesystem::path& p);
void unregister_temp_file(const std::filesystem::path& p);

/// mkostemp() on `tmpl` (ending in XXXXXX; replaced by the name), owner-only, registered (with
/// the files named by adding each of `also`) in the same step, so that an interruption can
/// never fall between the two. Returns the descriptor, or -1 with errno set.
int create_registered_temp_file(std::string& tmpl, std::initializer_list<const char*> also = {});

/// The folder the temporary copies of create and verify go to: $TMPDIR, else /tmp.
std::filesystem::path temp_base();

/// Throws io_error with one sentence naming the folder when the temporary folder (see
/// temp_base) cannot be used: it does not exist, is not a folder or is not writable. Called by
/// the commands that need it (create, verify) before any work.
void require_temp_folder();

/// Creates every missing folder of `dir` (and `dir` itself) owner-only (0700); io_error when one
/// cannot be made. Returns the folders it created, outermost first.
std::vector<std::filesystem::path> make_private_folders(const std::filesystem::path& dir);

/// Removes `folders` (as make_private_folders returned them) innermost first, each only if empty.
void remove_empty_folders(const std::vector<std::filesystem::path>& folders);

/// The DATABASE.pre-restore-* copies restore left beside `database` (beside the file it points
/// to when it is a symbolic link, hb::restored_file_path; never deleted automatically): their
/// names (without -wal/-shm/-journal files) and the bytes of all of them.
struct pre_restore_copies {
  std::vector<std::string> names;
  std::uint64_t bytes = 0;
};
pre_restore_copies find_pre_restore_copies(const std::filesystem::path& database);

/// The observer that logs every step at debug level when --verbose is on: each stage as it
/// starts (export, compress, decompress, check) and, for create, where the backup was stored
/// (written to a hidden temporary file in `backup_dir`, fsynced, renamed into place).
hb::observer_fn step_logger(const std::filesystem::path& backup_dir);

/// A library error's message in the program's words: the library speaks of "no key was given" and
/// "a database key is configured"; the program names HONE_DB_KEY, the only place a key comes from.
std::string program_message(const hb::error& e);
std::string program_message(std::string message);

/// Exit code for a library error: 2 for invalid names/arguments, 1 otherwise.
int exit_code_for(const hb::error& e);

/// A short hint for the user after an error message, or empty (see README "Troubleshooting").
std::string hint_for(const hb::error& e);

/// "12.1 KiB" (binary units, one decimal; plain bytes below 1 KiB).
std::string human_size(std::uint64_t bytes);

/// "2024-01-15 14:30:22" (UTC).
std::string human_time(hb::time_point t);

}  // namespace hone_app
