// Byte streams that connect the policies: an Exporter produces a file, a Compressor turns a
// reader into a writer, a Destination supplies both ends. Plus RAII for POSIX descriptors.
#pragma once

#include <hone/backup/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::backup {

/// A source of bytes. read() fills up to buf.size() bytes and returns how many; 0 means end.
/// Errors are thrown (hone::backup::error).
class reader {
 public:
  virtual ~reader() = default;
  virtual std::size_t read(std::span<std::byte> buf) = 0;
};

/// A sink of bytes. write() consumes all of data or throws.
class writer {
 public:
  virtual ~writer() = default;
  virtual void write(std::span<const std::byte> data) = 0;
};

namespace detail {

inline std::string errno_text(int e) { return std::strerror(e); }

/// True when the bytes start with SQLite's plain header: an unencrypted database.
inline bool is_plain_header(const void* data, std::size_t n) {
  return n >= 16 && std::memcmp(data, "SQLite format 3", 16) == 0;
}

/// How many leading bytes classify_database_head() wants to see.
inline constexpr std::size_t database_head_bytes = 1024;

/// What the first bytes of a file say about it.
enum class database_kind {
  plain,         ///< SQLite's header with a valid page size
  encrypted,     ///< looks like SQLCipher: at least 512 bytes that read as random
  empty,         ///< no bytes at all
  not_database,  ///< anything else (text, too short, a broken header)
};

/// Classifies the first bytes of a database file (give database_head_bytes, or the whole file
/// when it is shorter). SQLite's smallest page is 512 bytes, so a shorter file is no database.
/// An SQLCipher file is ciphertext from its first byte (the salt), indistinguishable from random
/// without the key; random bytes use most of the 256 byte values (about 221 of them in 512 bytes),
/// text and other formats far fewer, so fewer than 160 distinct values means "not a database".
inline database_kind classify_database_head(const void* data, std::size_t n) {
  if (n == 0) return database_kind::empty;
  const auto* b = static_cast<const unsigned char*>(data);
  if (is_plain_header(data, n)) {
    if (n < 100) return database_kind::not_database;
    const unsigned page = (unsigned(b[16]) << 8) | b[17];  // 1 means 65536
    const bool power_of_two = page == 1 || (page >= 512 && (page & (page - 1)) == 0);
    return power_of_two ? database_kind::plain : database_kind::not_database;
  }
  if (n < 512) return database_kind::not_database;
  bool seen[256] = {};
  unsigned distinct = 0;
  for (std::size_t i = 0; i < 512; ++i)
    if (!seen[b[i]]) {
      seen[b[i]] = true;
      ++distinct;
    }
  return distinct >= 160 ? database_kind::encrypted : database_kind::not_database;
}

/// Why a file of this kind is not a database, for messages; empty for plain and encrypted.
inline std::string_view database_kind_problem(database_kind k) noexcept {
  switch (k) {
    case database_kind::empty: return "it is empty (0 bytes)";
    case database_kind::not_database: return "its content is not an SQLite or SQLCipher database";
    default: return {};
  }
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

}  // namespace detail

/// Reads a file through a descriptor it owns.
class file_reader final : public reader {
 public:
  explicit file_reader(const std::filesystem::path& path) : what_("Failed to read " + path.string()) {
    fd_ = detail::unique_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) throw io_error(what_ + ": " + detail::errno_text(errno));
  }
  explicit file_reader(detail::unique_fd fd, std::string what) : fd_(std::move(fd)), what_(std::move(what)) {}
  std::size_t read(std::span<std::byte> buf) override { return detail::read_some(fd_.get(), buf, what_); }
  int native_handle() const noexcept { return fd_.get(); }
  std::uint64_t size() const {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) throw io_error(what_ + ": " + detail::errno_text(errno));
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  detail::unique_fd fd_;
  std::string what_;
};

/// What a file_writer's file is for, which decides what finish() costs.
enum class durability {
  /// The file must survive a crash once finish() returns (a backup, a restored database):
  /// finish() fsyncs, and the kernel is asked to start writing back every 8 MiB as it goes,
  /// so that the disk works while the data is still being produced and the final fsync
  /// finds little left to do.
  durable,
  /// A private scratch file that is read back and deleted (a copy being verified): no
  /// write-back, no fsync; finish() only closes and reports errors.
  scratch,
};

/// Writes a file through a descriptor it owns; finish() fsyncs (unless scratch) and closes,
/// reporting errors.
class file_writer final : public writer {
 public:
  /// Creates path exclusively (O_EXCL) with the given mode.
  explicit file_writer(const std::filesystem::path& path, mode_t mode = 0600, durability d = durability::durable)
      : what_("Failed to write " + path.string()), durability_(d) {
    fd_ = detail::unique_fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd_) throw io_error(what_ + ": " + detail::errno_text(errno));
  }
  file_writer(detail::unique_fd fd, std::string what, durability d = durability::durable)
      : fd_(std::move(fd)), what_(std::move(what)), durability_(d) {}
  void write(std::span<const std::byte> data) override {
    detail::write_all(fd_.get(), data, what_);
    written_ += data.size();
    if (durability_ == durability::durable && written_ - writeback_from_ >= writeback_step) {
      // Only starts the write-back (no waiting); errors surface in finish()'s fsync.
      ::sync_file_range(fd_.get(), static_cast<off_t>(writeback_from_), static_cast<off_t>(written_ - writeback_from_),
                        SYNC_FILE_RANGE_WRITE);
      writeback_from_ = written_;
    }
  }
  /// Flushes to stable storage (durable files) and closes; any error (e.g. ENOSPC reported
  /// late) throws.
  void finish() {
    if (durability_ == durability::durable) detail::fsync_checked(fd_.get(), what_);
    fd_.close_checked(what_);
  }
  std::uint64_t bytes_written() const noexcept { return written_; }
  int native_handle() const noexcept { return fd_.get(); }

 private:
  static constexpr std::uint64_t writeback_step = 8u << 20;
  detail::unique_fd fd_;
  std::string what_;
  durability durability_;
  std::uint64_t written_ = 0;
  std::uint64_t writeback_from_ = 0;
};

/// A writer that appends to a std::string-like byte buffer (used by memory_destination).
template <class Buffer>
class buffer_writer final : public writer {
 public:
  explicit buffer_writer(Buffer& b) : b_(b) {}
  void write(std::span<const std::byte> data) override {
    auto p = reinterpret_cast<const typename Buffer::value_type*>(data.data());
    b_.insert(b_.end(), p, p + data.size());
  }

 private:
  Buffer& b_;
};

/// A reader over bytes held in memory; the bytes must outlive it.
class span_reader final : public reader {
 public:
  explicit span_reader(std::span<const std::byte> data) : data_(data) {}
  std::size_t read(std::span<std::byte> buf) override {
    std::size_t n = std::min(buf.size(), data_.size());
    if (n) std::memcpy(buf.data(), data_.data(), n);
    data_ = data_.subspan(n);
    return n;
  }

 private:
  std::span<const std::byte> data_;
};

}  // namespace hone::backup
