// POSIX calls in one place: errno text, an owned descriptor, full reads and writes, fsync of
// files and folders, rename without replace.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/types.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace hone::backup::detail {

inline std::string errno_text(int e) { return std::strerror(e); }

/// "user id 65534 (nobody)", or "user id 1234" when the id has no name here.
inline std::string user_text(uid_t uid) {
  std::string out = "user id " + std::to_string(uid);
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name)
    out += std::string(" (") + found->pw_name + ")";
  return out;
}

/// `message` with every occurrence of `path` replaced by `replacement`: private temp paths
/// are no business of the person reading an error.
inline std::string without_path(std::string message, const std::filesystem::path& path, std::string_view replacement) {
  const std::string p = path.string();
  if (p.empty()) return message;
  for (auto at = message.find(p); at != std::string::npos; at = message.find(p, at + replacement.size()))
    message.replace(at, p.size(), replacement);
  return message;
}

/// Owns a POSIX file descriptor.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// close() that reports failure (NFS and some filesystems report write errors only here).
  void close_checked(const std::string& what) {
    if (fd_ < 0) return;
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0 && errno != EINTR) throw io_error(what + ": " + errno_text(errno));
  }

 private:
  int fd_ = -1;
};

inline void write_all(int fd, std::span<const std::byte> data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error(what + ": " + errno_text(errno));
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

inline std::size_t read_some(int fd, std::span<std::byte> buf, const std::string& what) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw io_error(what + ": " + errno_text(errno));
  }
}

/// Starts the kernel's write-back of a file being written once every 8 MiB of it (no waiting;
/// errors surface in the final fsync), so that the disk works while the data is still being
/// produced and the final fsync finds little left to do. It asks for every dirty page of the
/// file, not only the last 8 MiB: pages written out of order (SQLite spills its cache when it
/// fills) are taken too.
class writeback_pacer {
 public:
  static constexpr std::uint64_t step = std::uint64_t{8} << 20;
  /// `written`: how far into the file `fd` the data has come.
  void advance(int fd, std::uint64_t written) noexcept {
    if (written - at_ < step) return;
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    at_ = written;
  }

 private:
  std::uint64_t at_ = 0;
};

inline void fsync_checked(int fd, const std::string& what) {
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) throw io_error(what + ": " + errno_text(errno));
}

/// fsync a directory so that a rename inside it survives a crash. Filesystems that cannot
/// sync a directory (EINVAL, EROFS) are accepted; any other failure throws.
inline void fsync_directory(const std::filesystem::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw io_error("Cannot sync the folder " + dir.string() + ": " + errno_text(errno));
  fsync_checked(fd.get(), "Cannot sync the folder " + dir.string());
}

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

/// A temporary file that removes itself (and the files named by adding each of `also` to its
/// path, e.g. SQLite's "-journal") when destroyed, unless release()d. `hook`, when set, is told
/// of the path when it is taken (true) and when it is removed or released (false), so that a
/// program can remove it on a signal.
class temp_path {
 public:
  using hook_fn = std::function<void(const std::filesystem::path&, bool created)>;
  temp_path() = default;
  explicit temp_path(std::string path, hook_fn hook = {}, std::vector<std::string> also = {})
      : path_(std::move(path)), hook_(std::move(hook)), also_(std::move(also)) {
    if (hook_ && !path_.empty()) hook_(path_, true);
  }
  /// The hook was already told of the path (see create_unique).
  static constexpr struct announced_t {
  } announced{};
  temp_path(std::string path, hook_fn hook, std::vector<std::string> also, announced_t)
      : path_(std::move(path)), hook_(std::move(hook)), also_(std::move(also)) {}
  temp_path(temp_path&& o) noexcept
      : path_(std::exchange(o.path_, {})), hook_(std::move(o.hook_)), also_(std::move(o.also_)) {}
  temp_path& operator=(temp_path&& o) noexcept {
    if (this != &o) {
      reset();
      path_ = std::exchange(o.path_, {});
      hook_ = std::move(o.hook_);
      also_ = std::move(o.also_);
    }
    return *this;
  }
  temp_path(const temp_path&) = delete;
  temp_path& operator=(const temp_path&) = delete;
  ~temp_path() { reset(); }

  const std::string& path() const noexcept { return path_; }
  /// Keeps the file: it is no longer temporary.
  void release() {
    if (hook_ && !path_.empty()) hook_(path_, false);
    path_.clear();
  }

 private:
  void reset() noexcept {
    if (path_.empty()) return;
    ::unlink(path_.c_str());
    for (const auto& sfx : also_) ::unlink((path_ + sfx).c_str());
    try {
      release();
    } catch (...) {  // a hook that throws must not escape a destructor
      path_.clear();
    }
  }
  std::string path_;
  hook_fn hook_;
  std::vector<std::string> also_;
};

/// Six characters from [A-Za-z0-9] for a temporary name, from the kernel's random source.
inline std::string random_name_part() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[6] = {};
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0)
      got += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR)
      throw io_error("Cannot read random bytes for a temporary name: " + errno_text(errno));
  }
  std::string out(sizeof bytes, 'x');
  for (std::size_t i = 0; i < sizeof bytes; ++i) out[i] = alphabet[bytes[i] % (sizeof alphabet - 1)];
  return out;
}

/// Tries the names `stem` followed by six random characters until `create(name)` makes one
/// (true), or fails other than with EEXIST (false, errno set). Unlike mkostemp() and mkdtemp(),
/// `hook`, when set, is told of each name *before* create() runs (true), and the name is withdrawn
/// (false) when create() did not make it: a program that removes its temporaries on a signal
/// cannot miss one created just before the signal. Returns the name made, or an empty string
/// with errno set.
template <class Create>
std::string create_unique(const std::string& stem, const temp_path::hook_fn& hook, Create create) {
  for (int attempt = 0;; ++attempt) {
    std::string name = stem + random_name_part();
    if (hook) hook(name, true);
    if (create(name)) return name;
    const int e = errno;
    if (hook) hook(name, false);
    if (e != EEXIST || attempt == 100) {
      errno = e;
      return {};
    }
  }
}

/// A new temporary file and its owner.
struct created_temp {
  unique_fd fd;  ///< open for reading and writing
  temp_path path;
};

/// Creates an owner-only (0600) file `stem`XXXXXX (see create_unique) with O_EXCL and
/// O_NOFOLLOW, so a planted file or symlink is never opened. Throws io_error ("Cannot create a
/// temporary file in DIR: ...").
inline created_temp create_temp_file(const std::string& stem, temp_path::hook_fn hook = {},
                                     std::vector<std::string> also = {}) {
  unique_fd fd;
  std::string name = create_unique(stem, hook, [&fd](const std::string& p) {
    fd = unique_fd(::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    return static_cast<bool>(fd);
  });
  if (name.empty()) {
    const int e = errno;
    throw io_error("Cannot create a temporary file in " + std::filesystem::path(stem).parent_path().string() + ": " +
                   errno_text(e));
  }
  return {std::move(fd), temp_path(std::move(name), std::move(hook), std::move(also), temp_path::announced)};
}

}  // namespace hone::backup::detail
