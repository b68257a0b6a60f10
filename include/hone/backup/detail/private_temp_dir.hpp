// The runner's private temp folders: owner-only, removed with their contents, and recognisable
// as abandoned by the next operation when their process was killed.
#pragma once

#include <hone/backup/detail/posix.hpp>
#include <hone/backup/error.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::backup::detail {

/// A private (0700) temp folder, hone-TAG-XXXXXX, removed with everything in it on
/// destruction. While it exists, its process holds an flock() on the `.owner` file inside and
/// has written its pid there, so a later operation can tell a folder whose process was killed
/// (a pid, and the lock free) from one in use or still being set up (no pid yet), and removes
/// it: a killed backup does not leak its snapshot (plaintext, for a plain database) into the
/// temp folder.
class private_temp_dir {
 public:
  static constexpr std::string_view owner_file = ".owner";

  using hook_fn = std::function<void(const std::filesystem::path&, bool created)>;
  private_temp_dir(const std::filesystem::path& parent, const char* tag, hook_fn hook = {}) : hook_(std::move(hook)) {
    remove_stale(parent);
    // Named and announced to the hook before it exists (see create_unique()).
    path_ = create_unique((parent / (std::string("hone-") + tag + "-")).string(), hook_,
                          [](const std::string& p) { return ::mkdir(p.c_str(), 0700) == 0; });
    if (path_.empty()) {
      const int e = errno;
      throw io_error("Cannot create a temporary folder in " + parent.string() + ": " + errno_text(e) +
                     " (the temporary folder must exist and be writable; set TMPDIR to choose another)");
    }
    owner_ = unique_fd(
        ::open((path_ / std::string(owner_file)).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    // Blocking: another process may hold the lock for a moment while it looks at the folder
    // (and, finding no pid in it yet, leaves it alone).
    int rc = owner_ ? 0 : -1;
    while (rc == 0 && ::flock(owner_.get(), LOCK_EX) != 0)
      if (errno != EINTR) rc = -1;
    const std::string pid = std::to_string(::getpid());
    if (rc != 0 || ::write(owner_.get(), pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
      const int e = errno;
      cleanup();
      throw io_error("Cannot create a temporary folder in " + parent.string() + ": " + errno_text(e));
    }
  }
  ~private_temp_dir() { cleanup(); }
  private_temp_dir(const private_temp_dir&) = delete;
  private_temp_dir& operator=(const private_temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Removes the hone-*-XXXXXX folders in `parent` that belong to this user and whose process
  /// is gone (their `.owner` file holds a pid and its lock is free). Folders whose owner file is
  /// missing or empty are being set up, and left alone unless older than an hour (a process
  /// killed in between).
  static void remove_stale(const std::filesystem::path& parent) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(parent, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      const std::string n = it->path().filename().string();
      const auto dash = n.rfind('-');
      if (n.rfind("hone-", 0) != 0 || dash == std::string::npos || dash < 5 || n.size() - dash != 7) continue;
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) continue;
      unique_fd owner(::open((it->path() / std::string(owner_file)).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
      if (!owner && errno != ENOENT) continue;
      if (owner && ::flock(owner.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
      char pid[1];
      const bool set_up = owner && ::pread(owner.get(), pid, 1, 0) == 1;
      if (!set_up) {
        const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
        if (age < std::chrono::hours(1)) continue;
      }
      std::error_code rec;
      std::filesystem::remove_all(it->path(), rec);
    }
  }

 private:
  void cleanup() noexcept {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    owner_.reset();
    if (hook_) hook_(path_, false);
    path_.clear();
  }
  std::filesystem::path path_;
  hook_fn hook_;
  unique_fd owner_;
};

}  // namespace hone::backup::detail
