// Byte streams that connect the policies: an Exporter produces a file, a Compressor turns a
// reader into a writer, a Destination supplies both ends. Plus RAII for POSIX descriptors.
#pragma once

#include <hone/backup/detail/posix.hpp>
#include <hone/backup/error.hpp>

#include <algorithm>
#include <array>
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
    if (durability_ == durability::durable) writeback_.advance(fd_.get(), written_);
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
  detail::unique_fd fd_;
  std::string what_;
  durability durability_;
  std::uint64_t written_ = 0;
  detail::writeback_pacer writeback_;
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

/// Fills buf as far as the reader allows; returns less than buf.size() only at end of input.
inline std::size_t read_full(reader& in, std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = in.read(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

/// Reads up to N bytes of a stream ahead, so that they can be looked at (head()), then gives
/// them again before the rest of the stream.
template <std::size_t N>
class lookahead_reader final : public reader {
 public:
  explicit lookahead_reader(reader& in) : in_(in) { filled_ = read_full(in_, head_); }
  /// The first bytes (fewer than N only when the stream is shorter).
  std::span<const std::byte> head() const noexcept { return {head_.data(), filled_}; }
  std::size_t read(std::span<std::byte> buf) override {
    if (pos_ == filled_) return in_.read(buf);
    const std::size_t n = std::min(buf.size(), filled_ - pos_);
    std::memcpy(buf.data(), head_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  reader& in_;
  std::array<std::byte, N> head_{};
  std::size_t filled_ = 0;
  std::size_t pos_ = 0;
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
