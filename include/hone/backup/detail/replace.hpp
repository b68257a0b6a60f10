// Replacing a live database file by another one (restore, migrate) so that at every instant
// the path names the complete old database or the complete new one, and the old one is kept.
#pragma once

#include <hone/backup/detail/sqlite.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>

#include <filesystem>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::backup::detail {

/// The files SQLite keeps beside a database, by suffix of its path.
inline constexpr const char* sqlite_sidecars[] = {"-wal", "-shm", "-journal"};

/// Those of sqlite_sidecars that may hold committed transactions not yet in the database file.
inline constexpr const char* sqlite_pending_sidecars[] = {"-wal", "-journal"};

/// The first of sqlite_pending_sidecars of `db` that has data, or nullptr.
inline const char* pending_sidecar(const std::filesystem::path& db) {
  for (const char* sfx : sqlite_pending_sidecars) {
    std::error_code ec;
    if (std::filesystem::file_size(db.string() + sfx, ec) > 0 && !ec) return sfx;
  }
  return nullptr;
}

/// For a database nothing holds still (an Exporter without prepare_replace): it may be
/// replaced only when its -wal and -journal hold nothing.
inline void require_no_pending_sidecar(const std::filesystem::path& db) {
  if (const char* sfx = pending_sidecar(db))
    throw database_error("Cannot replace " + db.string() + ": its " + sfx + " file may hold committed transactions");
}

/// Makes the database of `db` safe to replace: leaves WAL mode (SQLite checkpoints the WAL into
/// the file and deletes it; it can only do so as the only connection) and takes the write lock
/// (BEGIN IMMEDIATE), which the caller holds until the replacement is installed. Then the file
/// alone holds every committed transaction, and nobody commits until the transaction ends.
/// Returns the journal mode the database had ("wal", "delete", ...). Throws
/// database_busy_error, with nothing changed, while another connection is in the way.
inline std::string hold_still(sqlite3* db, const std::string& path) {
  const std::string busy = "The database " + path +
                           " is in use by another connection (it has it open in WAL mode or is writing to it), "
                           "so it cannot be replaced safely; stop the application that uses it and retry";
  auto single = [&](const char* sql) {
    statement s(db, sql);
    return s.step() ? s.column_text(0) : std::string();
  };
  try {
    const std::string mode = single("PRAGMA journal_mode");
    if (single("PRAGMA journal_mode = DELETE") != "delete") throw database_busy_error(busy);
    exec(db, "BEGIN IMMEDIATE");
    return mode;
  } catch (const database_busy_error&) {
    throw;
  } catch (const error&) {
    throw database_busy_error(busy);
  }
}

/// The lock of replacing one database file: an exclusive flock() on the hidden file
/// .NAME.restore.lock beside the database NAME, held for the lifetime of the object and removed
/// with it. Every restore of that database takes it, whatever destination its backup comes from
/// (the local folder, a bucket), in this process or another, so two restores never share the
/// folder's temporary files or replace the database at the same time. It is taken without
/// waiting: a second restore fails at once with database_busy_error naming the one in progress
/// (the holder writes what it is doing into the lock file).
class replace_lock {
 public:
  /// `holder` says what takes the lock ("restore of backup NAME"), for the message of a
  /// restore refused meanwhile; `since` when.
  replace_lock(const std::filesystem::path& db, const std::string& holder, const std::string& since)
      : path_((db.parent_path() / ("." + db.filename().string() + ".restore.lock")).string()) {
    for (;;) {
      fd_ = unique_fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd_) throw io_error("Cannot open the restore lock " + path_ + ": " + errno_text(errno));
      while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) throw lock_error("Cannot lock " + path_ + ": " + errno_text(errno));
        const std::string running = held_by();
        throw database_busy_error("Another restore of " + db.string() + " is in progress (" +
                                  (running.empty() ? std::string("in another process or thread") : running) +
                                  "); nothing was changed: wait for it to finish, then restore again");
      }
      // The holder before removes the file as it lets go: the lock counts only on the file that
      // is still there.
      struct stat held {
      }, there{};
      if (::fstat(fd_.get(), &held) == 0 && ::stat(path_.c_str(), &there) == 0 && held.st_dev == there.st_dev &&
          held.st_ino == there.st_ino)
        break;
    }
    const std::string text = holder + ", process " + std::to_string(::getpid()) + ", since " + since;
    if (::ftruncate(fd_.get(), 0) == 0) (void)!::pwrite(fd_.get(), text.data(), text.size(), 0);
  }
  replace_lock(replace_lock&&) noexcept = default;
  replace_lock& operator=(replace_lock&&) noexcept = default;
  ~replace_lock() {
    if (!fd_) return;
    ::unlink(path_.c_str());  // while still held, see the constructor
    ::flock(fd_.get(), LOCK_UN);
  }

 private:
  /// What the holder wrote (printable characters only, at most 300).
  std::string held_by() const {
    char buf[300];
    const ssize_t n = ::pread(fd_.get(), buf, sizeof buf, 0);
    std::string out;
    for (ssize_t i = 0; i < n; ++i)
      if (buf[i] >= 0x20 && buf[i] < 0x7f) out += buf[i];
    return out;
  }
  std::string path_;
  unique_fd fd_;
};

/// Keeps `file` as `stem` (or stem-1, stem-2, ... when that exists): a hard link when the
/// filesystem allows it (instant, no extra space), else an owner-only copy. Returns the name.
inline std::string keep_copy(const std::string& file, const std::string& stem) {
  std::error_code ec;
  std::string kept = stem;
  for (int n = 1; std::filesystem::exists(kept, ec); ++n) kept = stem + "-" + std::to_string(n);
  if (::link(file.c_str(), kept.c_str()) == 0) return kept;
  std::filesystem::copy_file(file, kept, ec);
  if (ec) {
    std::filesystem::remove(kept, ec);
    throw io_error("Cannot keep a copy of " + file + " at " + kept + ": " + ec.message());
  }
  std::filesystem::permissions(kept, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  unique_fd fd(::open(kept.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw io_error("Cannot open " + kept + ": " + errno_text(errno));
  fsync_checked(fd.get(), "Cannot sync " + kept);
  return kept;
}

/// Gives `file` the owner, group and permission bits of `like`. Changing the owner needs
/// privileges: without them the file stays the caller's.
inline void copy_ownership(const std::string& file, const struct stat& like) {
  if (::chown(file.c_str(), like.st_uid, like.st_gid) != 0 && errno != EPERM)
    throw io_error("Cannot set the owner of " + file + ": " + errno_text(errno));
  if (::chmod(file.c_str(), like.st_mode & 07777) != 0)
    throw io_error("Cannot set the mode of " + file + ": " + errno_text(errno));
}

/// Moves the complete, synced file `replacement` (in the same folder) over `db`: removes the
/// old database's -wal, -shm and -journal first (the caller made sure they hold nothing that
/// is not in the file, see hold_still), every failure stopping before the rename; then
/// renames. The caller then syncs the folder (fsync_directory): a failure there comes after
/// the new database is in place.
inline void install_replacement(const std::string& replacement, const std::string& db) {
  for (const char* sfx : sqlite_sidecars)
    if (::unlink((db + sfx).c_str()) != 0 && errno != ENOENT)
      throw io_error("Cannot remove " + db + sfx + " (" + errno_text(errno) + "); the database was not replaced");
  if (::rename(replacement.c_str(), db.c_str()) != 0)
    throw io_error("Cannot move the new database into place at " + db + ": " + errno_text(errno) +
                   "; the current database was not changed");
}

/// Replaces the database file `db` by the complete, synced `replacement` (in the same folder),
/// the step restore and migrate share. When a database is there (`current` is its stat) it is
/// first kept as `keep_stem` (keep_copy; the folder is synced so the copy survives a crash) and
/// the replacement gets its owner, group and mode; then install_replacement. Returns the kept
/// copy's name (empty when there was no database). Fails before the rename, with the database
/// and its side files as they were and no copy left behind, or not at all. The caller then
/// syncs the folder.
inline std::string replace_database_file(const std::string& replacement, const std::string& db,
                                         const struct stat* current, const std::string& keep_stem) {
  if (!current) {
    install_replacement(replacement, db);
    return {};
  }
  temp_path kept(keep_copy(db, keep_stem));
  fsync_directory(std::filesystem::path(db).parent_path());
  copy_ownership(replacement, *current);
  install_replacement(replacement, db);
  std::string name = kept.path();
  kept.release();
  return name;
}

/// The file a restore of `database` replaces: its absolute path, or, when it is a symbolic link
/// (a volume mounted elsewhere: app/hone.db -> ../data/real.db), the file the link points to,
/// links followed (relative ones from the link's folder), even when that file does not exist
/// yet. The link itself is never replaced.
inline std::filesystem::path link_target_file(const std::filesystem::path& database) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(database, ec);
  if (ec) return database;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : p.parent_path() / to;
    // Its folder resolved as the system does (a ".." after a linked folder is not lexical).
    const fs::path folder = fs::weakly_canonical(p.parent_path(), ec);
    if (ec) break;
    p = folder / p.filename();
  }
  return p;
}

/// Where a restore goes: the absolute path, and the file there now (if any).
struct restore_target {
  std::filesystem::path path;
  bool exists = false;
  struct stat current {};
};

/// The target of a restore to `database` (link_target_file: through a symbolic link, the file
/// it points to): refused when a database is there and `force` is false, or when its folder
/// does not exist.
inline restore_target restore_target_of(const std::filesystem::path& database, bool force) {
  restore_target t;
  std::error_code ec;
  t.path = link_target_file(database);
  t.exists = ::stat(t.path.c_str(), &t.current) == 0;
  if (t.exists && !force)
    throw database_exists_error("Database already exists at " + t.path.string() + "; restoring would overwrite it");
  if (!std::filesystem::is_directory(t.path.parent_path(), ec))
    throw io_error("Cannot restore: the folder " + t.path.parent_path().string() + " does not exist");
  return t;
}

/// Removes the files named `prefix` and six more characters in `dir`: temp files of an
/// earlier restore that was killed.
inline void remove_stale_restore_files(const std::filesystem::path& dir, const std::string& prefix) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    auto n = it->path().filename().string();
    if (n.size() == prefix.size() + 6 && n.compare(0, prefix.size(), prefix) == 0) ::unlink(it->path().c_str());
  }
}

/// An owner-only temp file .NAME.restore-XXXXXX in the target's folder (so that the final step
/// is a rename), the stale ones of an earlier restore that was killed removed first. The caller
/// holds the replace_lock. `hook` is told of the file (see temp_path).
inline created_temp create_restore_file(const restore_target& target, temp_path::hook_fn hook) {
  const auto dir = target.path.parent_path();
  const std::string stem = "." + target.path.filename().string() + ".restore-";
  remove_stale_restore_files(dir, stem);
  return create_temp_file((dir / stem).string(), std::move(hook));
}

/// The last step of a restore: replace_database_file (the database there kept as
/// `keep_stem`), then the folder synced. Returns the kept copy's name (empty when there was no
/// database). The temp file is the database once this returns, or when only the sync failed.
inline std::string install_restored(temp_path& restored, const restore_target& target, const std::string& keep_stem) {
  std::string kept = replace_database_file(restored.path(), target.path.string(),
                                           target.exists ? &target.current : nullptr, keep_stem);
  restored.release();
  try {
    fsync_directory(target.path.parent_path());
  } catch (const error& e) {
    throw io_error("The database was restored, but " + std::string(e.what()) +
                   ": the restore may not survive a power loss until the folder is synced");
  }
  return kept;
}

}  // namespace hone::backup::detail
