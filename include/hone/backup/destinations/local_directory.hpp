// local_directory: the Destination that keeps backups as files of a folder on disk, each
// written atomically and durably (temp file, fsync, rename, folder fsync), with a lock file.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/detail/posix.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hone::backup {

/// The lock of a local_directory: an exclusive flock() on its lock file, held for the lifetime
/// of the object; serializes threads and processes.
class directory_lock {
 public:
  directory_lock() = default;
  explicit directory_lock(const std::filesystem::path& path, const std::string& dir_for_errors) {
    fd_ = detail::unique_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd_)
      throw directory_error("Failed to access backup directory: " + dir_for_errors + ": " + detail::errno_text(errno));
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw lock_error("Cannot lock " + path.string() + ": " + detail::errno_text(errno));
    }
  }
  directory_lock(directory_lock&&) noexcept = default;
  directory_lock& operator=(directory_lock&&) noexcept = default;
  ~directory_lock() {
    if (fd_) ::flock(fd_.get(), LOCK_UN);
  }

 private:
  detail::unique_fd fd_;
};

/// What a local_directory accepts besides a private folder and the caller's own files.
struct local_directory_options {
  /// Accept a folder owned by another user or writable by its group or others (an NFS or SMB
  /// share, a NAS mount, whose owner and mode the user cannot change), and other users' files
  /// in it as backups. Safe when backups are authenticated (encrypted with a key, which whoever
  /// plants a file does not have); otherwise anyone who can write there can plant a backup.
  /// Without it such a folder is refused, and another user's file is listed with a `problem`
  /// and cannot be opened (it is never hidden).
  bool shared = false;
};

/// Backups as files in one folder. Files are written to a hidden temp name in the same folder,
/// fsynced, and renamed into place without replacing an existing name; the folder is fsynced.
/// A crash leaves at most a ".hone-tmp-*" file, which list() ignores and the next store()
/// removes (under the lock, so never one still being written).
class local_directory {
 public:
  static constexpr std::string_view temp_prefix = ".hone-tmp-";
  static constexpr std::string_view lock_name = ".hone-backup.lock";

  explicit local_directory(std::filesystem::path dir, local_directory_options options = {})
      : dir_(std::move(dir)), options_(options) {}

  const std::filesystem::path& directory() const noexcept { return dir_; }
  const local_directory_options& options() const noexcept { return options_; }

  /// Why others could plant backups in the folder ("it is owned by user id 1234, not by you or
  /// root", "it is writable by others (mode 0777)"), or empty when they cannot or the folder
  /// does not exist. The folder is refused for that reason unless options().shared.
  std::string sharing() const {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0) return {};
    return sharing_of(st);
  }

  /// Creates the folder when missing and proves that a file can be written in it (a temporary
  /// file, removed at once); directory_error naming the folder and the reason otherwise. For a
  /// program that writes backups later (a scheduler) and should not start when it cannot.
  void check_writable() {
    ensure_directory();
    std::string tmpl = (dir_ / (std::string(temp_prefix) + "XXXXXX")).string();
    detail::unique_fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) throw directory_error(access_error(errno));
    ::unlink(tmpl.c_str());
  }

  /// Told of each step of store() ("write", "fsync", "rename", "fsync folder") with the path
  /// it concerns, e.g. for a verbose log. May be empty.
  std::function<void(std::string_view step, const std::filesystem::path&)> trace;

  stored_entry store(const std::string& name, const std::function<void(writer&)>& produce) {
    ensure_directory();
    remove_leftovers();
    std::string tmpl = (dir_ / (std::string(temp_prefix) + "XXXXXX")).string();
    detail::unique_fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) throw directory_error(access_error(errno));
    std::filesystem::path tmp = tmpl;
    struct cleanup {
      std::filesystem::path p;
      bool armed = true;
      ~cleanup() {
        if (armed) ::unlink(p.c_str());
      }
    } guard{tmp};
    if (::fchmod(fd.get(), 0600) != 0) throw directory_error(access_error(errno));
    const auto final_path = dir_ / name;
    step("write", tmp);
    file_writer out(std::move(fd), "Failed to write backup " + final_path.string());
    produce(out);
    step("fsync", tmp);
    out.finish();
    step("rename", final_path);
    if (detail::rename_noreplace(tmp, final_path) != 0) {
      if (errno == EEXIST) throw already_exists_error("Backup already exists: " + name);
      throw io_error("Failed to store backup " + final_path.string() + ": " + detail::errno_text(errno));
    }
    guard.armed = false;
    step("fsync folder", dir_);
    detail::fsync_directory(dir_);
    auto e = stat(name);
    if (!e) throw io_error("Backup vanished right after it was written: " + final_path.string());
    return *e;
  }

  /// Regular files that are not hidden (temp files and the lock file start with '.').
  std::vector<stored_entry> list() const {
    std::vector<stored_entry> out;
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0) {
      if (errno == ENOENT) return out;  // nothing stored yet
      throw directory_error(access_error(errno));
    }
    if (!S_ISDIR(st.st_mode)) throw directory_error(access_error(ENOTDIR));
    check_ownership(st);
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), ::closedir);
    if (!d) throw directory_error(access_error(errno));
    while (auto* ent = ::readdir(d.get())) {
      std::string n = ent->d_name;
      if (n.empty() || n.front() == '.') continue;
      if (auto e = stat(n)) out.push_back(std::move(*e));
    }
    return out;
  }

  /// A regular file (not a link). Another user's file has its `owner` set; unless the folder is
  /// shared it also has a `content` problem (someone else could have planted it), so that it is
  /// listed, never read.
  std::optional<stored_entry> stat(const std::string& name) const {
    struct stat st {};
    auto p = dir_ / name;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    stored_entry e{name, static_cast<std::uint64_t>(st.st_size), detail::to_time_point(st.st_mtim), p.string()};
    if (st.st_uid != ::geteuid()) {
      e.owner = detail::user_text(st.st_uid);
      if (!options_.shared) e.content = content_info{.problem = foreign_file_problem(e.owner)};
    }
    return e;
  }

  std::unique_ptr<reader> open(const std::string& name) const {
    struct stat folder {};
    if (::stat(dir_.c_str(), &folder) != 0) {
      if (errno == ENOENT) throw not_found_error("Backup not found: " + name);
      throw directory_error(access_error(errno));
    }
    check_ownership(folder);
    auto p = dir_ / name;
    detail::unique_fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      if (errno == ENOENT || errno == ELOOP) throw not_found_error("Backup not found: " + name);
      throw io_error("Failed to read backup " + p.string() + ": " + detail::errno_text(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) throw not_found_error("Backup not found: " + name);
    if (st.st_uid != ::geteuid() && !options_.shared)
      throw directory_error("Backup " + name + " is refused: " + foreign_file_problem(detail::user_text(st.st_uid)));
    return std::make_unique<file_reader>(std::move(fd), "Failed to read backup " + p.string());
  }

  void remove(const std::string& name) {
    auto p = dir_ / name;
    if (::unlink(p.c_str()) != 0) {
      if (errno == ENOENT) throw not_found_error("Backup not found: " + name);
      throw io_error("Failed to delete backup " + p.string() + ": " + detail::errno_text(errno));
    }
    detail::fsync_directory(dir_);
  }

  /// Serializes create/prune/remove/restore across threads and processes.
  directory_lock lock() {
    ensure_directory();
    return directory_lock(dir_ / std::string(lock_name), dir_.string());
  }

 private:
  std::string access_error(int e) const {
    return "Failed to access backup directory: " + dir_.string() + ": " + detail::errno_text(e);
  }

  void ensure_directory() {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec)) {
      // Every folder created here, missing parents included, is owner-only whatever the umask.
      std::filesystem::path p;
      for (const auto& part : dir_) {
        p /= part;
        if (::mkdir(p.c_str(), 0700) == 0) {
          if (::chmod(p.c_str(), 0700) != 0) throw directory_error(access_error(errno));
        } else if (errno != EEXIST) {
          throw directory_error(access_error(errno));
        }
      }
      if (!std::filesystem::is_directory(dir_, ec)) throw directory_error(access_error(ENOTDIR));
    }
    if (::access(dir_.c_str(), W_OK | X_OK) != 0) throw directory_error(access_error(errno));
    check_folder();
  }

  /// Refuses a folder others could plant backups in (see sharing()), unless it is shared.
  void check_folder() const {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0) throw directory_error(access_error(errno));
    check_ownership(st);
  }
  void check_ownership(const struct stat& st) const {
    if (options_.shared) return;
    const std::string why = sharing_of(st);
    if (why.empty()) return;
    const std::string advice =
        st.st_uid != ::geteuid() && st.st_uid != 0
            ? ", so its owner could plant backups in it; use a folder of your own"
            : ", so anyone with that access could plant a backup in it; run chmod go-w " + dir_.string();
    throw directory_error("Failed to access backup directory: " + dir_.string() + ": " + why + advice);
  }
  /// sharing() of the folder whose stat is `st`.
  std::string sharing_of(const struct stat& st) const {
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
      return "it is owned by " + detail::user_text(st.st_uid) + ", not by you or root";
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return "it is writable by " + ((st.st_mode & S_IWOTH) ? std::string("others") : std::string("its group")) +
             " (mode " + mode + ")";
    }
    return {};
  }
  static std::string foreign_file_problem(const std::string& owner) {
    return "it belongs to " + owner +
           ", not to the user running this, so it could have been planted; files of other users are accepted "
           "only in a folder accepted as shared";
  }

  void step(std::string_view what, const std::filesystem::path& p) const {
    if (trace) trace(what, p);
  }

  void remove_leftovers() {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), ::closedir);
    if (!d) return;
    while (auto* ent = ::readdir(d.get())) {
      std::string_view n = ent->d_name;
      if (n.substr(0, temp_prefix.size()) == temp_prefix) ::unlink((dir_ / std::string(n)).c_str());
    }
  }

  std::filesystem::path dir_;
  local_directory_options options_;
};

static_assert(Destination<local_directory>);

}  // namespace hone::backup
