// Destination policy models: local_directory (a folder on disk, atomic and crash-safe) and
// memory_destination (in-process, for tests and for programs that ship bytes elsewhere).
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/error.hpp>
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

/// The platform's default backup folder: Linux $XDG_DATA_HOME/hone/backups (else
/// ~/.local/share/hone/backups), macOS ~/Library/Application Support/hone/backups, Windows
/// %LOCALAPPDATA%\hone\backups.
inline std::filesystem::path default_data_directory() {
  auto env = [](const char* n) -> std::string {
    const char* v = std::getenv(n);
    return v ? v : "";
  };
#if defined(_WIN32)
  return std::filesystem::path(env("LOCALAPPDATA")) / "hone";
#elif defined(__APPLE__)
  return std::filesystem::path(env("HOME")) / "Library" / "Application Support" / "hone";
#else
  if (auto x = env("XDG_DATA_HOME"); !x.empty() && x.front() == '/') return std::filesystem::path(x) / "hone";
  return std::filesystem::path(env("HOME")) / ".local" / "share" / "hone";
#endif
}
inline std::filesystem::path default_backup_directory() { return default_data_directory() / "backups"; }

namespace detail {
inline time_point to_time_point(const struct timespec& ts) {
  return time_point{std::chrono::duration_cast<time_point::duration>(std::chrono::seconds{ts.tv_sec} +
                                                                     std::chrono::nanoseconds{ts.tv_nsec})};
}

/// rename() that never replaces an existing target. renameat2(RENAME_NOREPLACE) where the
/// filesystem has it, else link()+unlink() (link fails with EEXIST atomically).
inline int rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to) {
#if defined(SYS_renameat2)
  constexpr unsigned rename_noreplace_flag = 1;  // RENAME_NOREPLACE
  if (::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), rename_noreplace_flag) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return -1;
#endif
  if (::link(from.c_str(), to.c_str()) != 0) return -1;
  ::unlink(from.c_str());
  return 0;
}

/// An exclusive flock() held for the lifetime of the object; serializes threads and processes.
class file_lock {
 public:
  file_lock() = default;
  explicit file_lock(const std::filesystem::path& path, const std::string& dir_for_errors) {
    fd_ = unique_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd_) throw directory_error("Failed to access backup directory: " + dir_for_errors + ": " + errno_text(errno));
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw lock_error("Cannot lock " + path.string() + ": " + errno_text(errno));
    }
  }
  file_lock(file_lock&&) noexcept = default;
  file_lock& operator=(file_lock&&) noexcept = default;
  ~file_lock() {
    if (fd_) ::flock(fd_.get(), LOCK_UN);
  }

 private:
  unique_fd fd_;
};
}  // namespace detail

/// Backups as files in one folder. Files are written to a hidden temp name in the same folder,
/// fsynced, and renamed into place without replacing an existing name; the folder is fsynced.
/// A crash leaves at most a ".hone-tmp-*" file, which list() ignores and the next store()
/// removes (under the lock, so never one still being written).
class local_directory {
 public:
  static constexpr std::string_view temp_prefix = ".hone-tmp-";
  static constexpr std::string_view lock_name = ".hone-backup.lock";

  /// The platform default folder.
  local_directory() : local_directory(default_backup_directory()) {}
  explicit local_directory(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& directory() const noexcept { return dir_; }

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

  /// A regular file of the caller's: a file someone else could have planted is no backup.
  std::optional<stored_entry> stat(const std::string& name) const {
    struct stat st {};
    auto p = dir_ / name;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return std::nullopt;
    return stored_entry{name, static_cast<std::uint64_t>(st.st_size), detail::to_time_point(st.st_mtim), p.string()};
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
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
      throw not_found_error("Backup not found: " + name);
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
  detail::file_lock lock() {
    ensure_directory();
    return detail::file_lock(dir_ / std::string(lock_name), dir_.string());
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

  /// Refuses a folder others could plant backups in: one writable by group or others, or owned
  /// by someone other than the caller or root.
  void check_folder() const {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0) throw directory_error(access_error(errno));
    check_ownership(st);
  }
  void check_ownership(const struct stat& st) const {
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
      throw directory_error("Failed to access backup directory: " + dir_.string() + ": it is owned by user id " +
                            std::to_string(st.st_uid) +
                            ", not by you or root, so its owner could plant backups in it; use a folder of "
                            "your own");
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw directory_error("Failed to access backup directory: " + dir_.string() + ": it is writable by " +
                            ((st.st_mode & S_IWOTH) ? std::string("others") : std::string("its group")) + " (mode " +
                            mode + "), so anyone with that access could plant a backup in it; run " + "chmod go-w " +
                            dir_.string());
    }
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
};

/// Backups held in memory. Copies share the same store (so a test can inspect what a runner
/// wrote). Thread-safe; lock() gives a process-local exclusive lock.
class memory_destination {
 public:
  memory_destination() : state_(std::make_shared<state>()) {}

  stored_entry store(const std::string& name, const std::function<void(writer&)>& produce) {
    std::vector<std::byte> bytes;
    buffer_writer<std::vector<std::byte>> w(bytes);
    produce(w);
    std::lock_guard lk(state_->m);
    if (state_->files.count(name)) throw already_exists_error("Backup already exists: " + name);
    auto& f = state_->files[name];
    f.bytes = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
    f.modified = modified_time ? modified_time() : std::chrono::system_clock::now();
    return entry(name, f);
  }

  std::vector<stored_entry> list() const {
    std::lock_guard lk(state_->m);
    std::vector<stored_entry> out;
    for (auto& [n, f] : state_->files) out.push_back(entry(n, f));
    return out;
  }

  std::optional<stored_entry> stat(const std::string& name) const {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) return std::nullopt;
    return entry(name, it->second);
  }

  std::unique_ptr<reader> open(const std::string& name) const {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) throw not_found_error("Backup not found: " + name);
    return std::make_unique<owning_reader>(it->second.bytes);
  }

  void remove(const std::string& name) {
    std::lock_guard lk(state_->m);
    if (state_->files.erase(name) == 0) throw not_found_error("Backup not found: " + name);
  }

  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(state_->op); }

  /// Test hooks: put raw bytes under a name (e.g. a damaged file), read them back.
  void put(const std::string& name, std::vector<std::byte> bytes, time_point modified) {
    std::lock_guard lk(state_->m);
    auto& f = state_->files[name];
    f.bytes = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
    f.modified = modified;
  }
  std::vector<std::byte> bytes(const std::string& name) {
    std::lock_guard lk(state_->m);
    auto it = state_->files.find(name);
    if (it == state_->files.end()) throw not_found_error("Backup not found: " + name);
    return *it->second.bytes;
  }

  /// Where modification times come from (e.g. a fake clock); system time when empty.
  std::function<time_point()> modified_time;

 private:
  struct file {
    std::shared_ptr<const std::vector<std::byte>> bytes;
    time_point modified{};
  };
  struct state {
    std::mutex m;   // guards files
    std::mutex op;  // the lock() of the Destination requirement
    std::map<std::string, file> files;
  };
  class owning_reader final : public reader {
   public:
    explicit owning_reader(std::shared_ptr<const std::vector<std::byte>> b) : bytes_(std::move(b)), r_(*bytes_) {}
    std::size_t read(std::span<std::byte> buf) override { return r_.read(buf); }

   private:
    std::shared_ptr<const std::vector<std::byte>> bytes_;
    span_reader r_;
  };
  static stored_entry entry(const std::string& name, const file& f) {
    return {name, f.bytes->size(), f.modified, "memory:" + name};
  }
  std::shared_ptr<state> state_;
};

static_assert(Destination<local_directory>);
static_assert(Destination<memory_destination>);

}  // namespace hone::backup
