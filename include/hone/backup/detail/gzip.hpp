// gzip internals of gzip_compressor: block buffers, the parallel deflate workers' pieces,
// deflate and inflate streams, the gunzip reader that checks CRC and length.
#pragma once

#include <hone/backup/compressors/gzip_options.hpp>
#include <hone/backup/detail/deflate_join.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <libdeflate.h>
#include <zlib.h>

namespace hone::backup {

namespace detail::gzip_impl {

inline constexpr std::size_t window_size = 32768;     // deflate's maximum back-reference distance
inline constexpr std::size_t max_stored_len = 65535;  // LEN field of a stored block is 16 bits
inline constexpr std::size_t stored_header_len = 5;   // header byte + LEN + NLEN (byte aligned)
inline constexpr std::size_t min_block_size = 64 * 1024;
inline constexpr std::size_t max_block_size = 64 * 1024 * 1024;  // keeps lengths within zlib's uInt
inline constexpr std::size_t io_buffer_size = 256 * 1024;

[[noreturn]] inline void corrupt(std::string_view why) {
  throw corrupt_backup_error("Backup is corrupt: " + std::string(why));
}

[[noreturn]] inline void truncated() { corrupt("truncated gzip data (unexpected end of file)"); }

// libdeflate's CRC uses carry-less multiplication and runs several times faster than zlib
// 1.2's table CRC; in stored mode the CRC is most of the CPU work besides copying.
inline std::uint32_t crc32(std::uint32_t crc, const std::byte* p, std::size_t n) noexcept {
  return libdeflate_crc32(crc, p, n);
}

inline std::uint32_t crc32_combine(std::uint32_t crc1, std::uint32_t crc2, std::size_t len2) noexcept {
  return static_cast<std::uint32_t>(::crc32_combine(crc1, crc2, static_cast<z_off_t>(len2)));
}

inline void put_le32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFFu);
}

inline constexpr std::size_t stored_size(std::size_t len) noexcept {
  std::size_t blocks = len == 0 ? 1 : (len + max_stored_len - 1) / max_stored_len;
  return len + blocks * stored_header_len;
}

/// One block of input laid out so that it is its own stored encoding:
///   [32 KiB history][5-byte gap][65535 bytes][5-byte gap][65535 bytes]...
/// Writing stored-block headers into the gaps turns the buffer into deflate stored blocks in
/// place, so ciphertext goes from reader to writer with no copy besides the two the I/O needs.
/// The history holds the 32 KiB before the block, the dictionary for deflating it.
class block_buffer {
 public:
  static constexpr std::size_t stride = stored_header_len + max_stored_len;

  explicit block_buffer(std::size_t pieces)
      // make_unique_for_overwrite leaves the pages untouched until used, so buffers for small
      // inputs cost no resident memory.
      : buf_(std::make_unique_for_overwrite<std::byte[]>(window_size + pieces * stride)), pieces_(pieces) {}

  std::size_t size() const noexcept { return len_; }
  bool full() const noexcept { return len_ == pieces_ * max_stored_len; }
  std::size_t piece_count() const noexcept { return (len_ + max_stored_len - 1) / max_stored_len; }
  std::span<const std::byte> piece(std::size_t k) const noexcept {
    return {piece_data(k), std::min(max_stored_len, len_ - k * max_stored_len)};
  }
  std::span<const std::byte> history() const noexcept { return {buf_.get() + window_size - hist_, hist_}; }

  /// Reads up to a full block, after history (the 32 KiB before it, at most).
  void fill(reader& in, std::span<const std::byte> history) {
    hist_ = history.size();
    if (hist_ != 0) std::memcpy(buf_.get() + window_size - hist_, history.data(), hist_);
    len_ = 0;
    for (std::size_t k = 0; k < pieces_; ++k) {
      std::size_t n = read_full(in, {piece_data(k), max_stored_len});
      len_ += n;
      if (n < max_stored_len) break;
    }
  }

  /// Writes the stored-block headers into the gaps and returns the encoded block. A stored
  /// block begins on a byte boundary, which every block of ours ends on; none is final (the
  /// stream ends with an empty final block of its own).
  std::span<const std::byte> make_stored() noexcept {
    std::size_t count = piece_count();
    for (std::size_t k = 0; k < count; ++k) {
      std::size_t n = piece(k).size();
      std::byte* h = piece_data(k) - stored_header_len;
      h[0] = std::byte{0};  // BFINAL=0, BTYPE=00, padding bits
      h[1] = static_cast<std::byte>(n & 0xFFu);
      h[2] = static_cast<std::byte>(n >> 8);
      h[3] = static_cast<std::byte>(~n & 0xFFu);
      h[4] = static_cast<std::byte>((~n >> 8) & 0xFFu);
    }
    return {buf_.get() + window_size, count * stored_header_len + len_};
  }

  /// Copies the last n bytes of the block (n <= size()) to dst.
  void copy_tail(std::byte* dst, std::size_t n) const noexcept {
    std::size_t offset = len_ - n;
    while (n != 0) {
      std::size_t k = offset / max_stored_len;
      std::size_t at = offset - k * max_stored_len;
      std::size_t m = std::min(n, piece(k).size() - at);
      std::memcpy(dst, piece_data(k) + at, m);
      dst += m;
      offset += m;
      n -= m;
    }
  }

  /// Up to n bytes starting at offset of the block, not crossing a piece boundary.
  std::span<const std::byte> sample(std::size_t offset, std::size_t n) const noexcept {
    std::size_t k = offset / max_stored_len;
    std::span<const std::byte> p = piece(k);
    std::size_t at = std::min(offset - k * max_stored_len, p.size() > n ? p.size() - n : 0);
    return p.subspan(at, std::min(n, p.size() - at));
  }

 private:
  std::byte* piece_data(std::size_t k) const noexcept {
    return buf_.get() + window_size + k * stride + stored_header_len;
  }

  std::unique_ptr<std::byte[]> buf_;
  std::size_t pieces_;
  std::size_t len_ = 0;
  std::size_t hist_ = 0;
};

/// Guesses from a sample whether deflate would gain nothing (ciphertext, already compressed
/// data). Order-0 entropy of 16 KiB spread over the block costs microseconds, whereas
/// finding out by deflating costs ~30 ms per MiB. Data whose byte entropy is above 7.9 bits
/// could shrink by at most ~1.3% through Huffman coding, and LZ matches in such data are rare
/// enough that storing it is the better trade.
inline bool looks_incompressible(const block_buffer& b) noexcept {
  constexpr std::size_t chunk = 512;
  constexpr std::size_t chunks = 32;
  std::size_t len = b.size();
  if (len < 4096) return false;  // too small to judge; deflate is cheap here anyway
  std::array<std::uint32_t, 256> hist{};
  std::size_t total = 0;
  std::size_t step = len / chunks;
  for (std::size_t i = 0; i < chunks; ++i) {
    for (std::byte x : b.sample(i * step, chunk)) ++hist[static_cast<unsigned char>(x)];
  }
  for (std::uint32_t c : hist) total += c;
  double n = static_cast<double>(total);
  double sum = 0;
  unsigned used = 0;
  for (std::uint32_t c : hist) {
    if (c == 0) continue;
    ++used;
    sum += c * std::log2(static_cast<double>(c));
  }
  // Miller-Madow correction: the plug-in estimate reads low on small samples, which would let
  // random data slip under the threshold.
  double bits = std::log2(n) - sum / n + (used - 1) / (2.0 * n * std::log(2.0));
  return bits > 7.9;
}

/// Raw deflate stream (no zlib/gzip wrapper: we write the gzip framing ourselves so that
/// blocks compressed on different threads can be concatenated). Not movable: zlib's state
/// keeps a pointer back to its z_stream.
class deflate_stream {
 public:
  explicit deflate_stream(int level) {
    int rc = deflateInit2(&z_, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK) throw io_error("Compression failed: zlib deflateInit2 returned " + std::to_string(rc));
  }
  deflate_stream(const deflate_stream&) = delete;
  deflate_stream& operator=(const deflate_stream&) = delete;
  ~deflate_stream() { deflateEnd(&z_); }

  /// Deflates the block, primed with its history, into dst, and ends with a sync flush: the
  /// output is byte aligned and not final, so the next block's output can follow it. Returns
  /// 0 when the output does not fit in dst_cap.
  std::size_t compress_block(const block_buffer& b, std::byte* dst, std::size_t dst_cap) {
    if (deflateReset(&z_) != Z_OK) throw io_error("Compression failed: zlib deflateReset failed");
    if (auto dict = b.history(); !dict.empty()) {
      int rc = deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size()));
      if (rc != Z_OK) throw io_error("Compression failed: zlib deflateSetDictionary returned " + std::to_string(rc));
    }
    z_.next_out = reinterpret_cast<Bytef*>(dst);
    z_.avail_out = static_cast<uInt>(dst_cap);
    for (std::size_t k = 0, count = b.piece_count(); k < count; ++k) {
      // zlib waits for more input rather than cut a match short, so feeding the block piece by
      // piece compresses as well as one call would; only the last piece flushes.
      std::span<const std::byte> p = b.piece(k);
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(p.data()));
      z_.avail_in = static_cast<uInt>(p.size());
      int rc = deflate(&z_, k + 1 < count ? Z_NO_FLUSH : Z_SYNC_FLUSH);
      if (rc == Z_STREAM_ERROR) throw io_error("Compression failed: zlib deflate returned Z_STREAM_ERROR");
      if (z_.avail_in != 0) return 0;  // output space ran out
    }
    // With avail_out exhausted zlib may still hold output: the block does not fit.
    return z_.avail_out != 0 ? dst_cap - z_.avail_out : 0;
  }

 private:
  z_stream z_{};
};

/// The deflate state of one thread: compresses blocks with the chosen engine, each into output
/// that the next block's output can follow. Not movable (holds a deflate_stream).
class block_deflater {
 public:
  block_deflater(int level, deflate_engine engine) : level_(level) {
    if (engine == deflate_engine::libdeflate) {
      ld_.reset(libdeflate_alloc_compressor(level));
      if (!ld_) throw std::bad_alloc();  // the level is valid, so out of memory
    }
  }

  /// Deflates the block into dst, byte aligned and not final, as deflate_stream does. Returns
  /// 0 when the output does not fit in dst_cap (the block is then best stored).
  std::size_t compress_block(const block_buffer& b, std::byte* dst, std::size_t dst_cap) {
    if (ld_) {
      // libdeflate takes neither a dictionary nor a flush, so the block is compressed on its
      // own as a complete stream, whose final block is then turned into a flushed one.
      if (dst_cap <= deflate_join::join_overhead) return 0;
      std::span<const std::byte> in = contiguous(b);
      std::size_t n =
          libdeflate_deflate_compress(ld_.get(), in.data(), in.size(), dst, dst_cap - deflate_join::join_overhead);
      if (n == 0) return 0;  // does not fit
      if (std::size_t joined = deflate_join::make_joinable(dst, n, dst_cap); joined != 0) return joined;
      // Should libdeflate's output ever fail to scan, the block goes through zlib instead.
    }
    if (!zlib_) zlib_.emplace(level_);
    return zlib_->compress_block(b, dst, dst_cap);
  }

 private:
  struct free_compressor {
    void operator()(libdeflate_compressor* c) const noexcept { libdeflate_free_compressor(c); }
  };

  // The block in one piece: its stored-block layout leaves gaps between the pieces.
  std::span<const std::byte> contiguous(const block_buffer& b) {
    if (b.piece_count() == 1) return b.piece(0);
    if (flat_cap_ < b.size()) {
      flat_ = std::make_unique_for_overwrite<std::byte[]>(b.size());
      flat_cap_ = b.size();
    }
    std::size_t at = 0;
    for (std::size_t k = 0, count = b.piece_count(); k < count; ++k) {
      std::span<const std::byte> p = b.piece(k);
      std::memcpy(flat_.get() + at, p.data(), p.size());
      at += p.size();
    }
    return {flat_.get(), b.size()};
  }

  int level_;
  std::unique_ptr<libdeflate_compressor, free_compressor> ld_;  // null for zlib
  std::unique_ptr<std::byte[]> flat_;
  std::size_t flat_cap_ = 0;
  std::optional<deflate_stream> zlib_;  // the zlib engine, or libdeflate's fallback
};

/// Raw inflate stream; see deflate_stream for why it is not movable.
class inflate_stream {
 public:
  inflate_stream() {
    int rc = inflateInit2(&z_, -15);
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK) throw io_error("Decompression failed: zlib inflateInit2 returned " + std::to_string(rc));
  }
  inflate_stream(const inflate_stream&) = delete;
  inflate_stream& operator=(const inflate_stream&) = delete;
  ~inflate_stream() { inflateEnd(&z_); }
  z_stream* get() noexcept { return &z_; }

 private:
  z_stream z_{};
};

/// Buffered byte source for the decoder: the gzip header and trailer are parsed byte by byte
/// while the deflate data is handed to zlib straight from the same buffer.
class input_buffer {
 public:
  input_buffer(reader& in, std::size_t capacity)
      : in_(in), buf_(std::make_unique_for_overwrite<std::byte[]>(capacity)), cap_(capacity) {}

  /// Makes at least one byte available unless the input has ended.
  bool fill() {
    if (pos_ < end_) return true;
    pos_ = 0;
    end_ = in_.read({buf_.get(), cap_});
    return end_ != 0;
  }
  std::size_t available() const noexcept { return end_ - pos_; }
  const std::byte* data() const noexcept { return buf_.get() + pos_; }
  void consume(std::size_t n) noexcept {
    pos_ += n;
    consumed_ += n;
  }
  /// The next byte, or -1 at end of input.
  int next() {
    if (!fill()) return -1;
    int b = static_cast<unsigned char>(buf_[pos_]);
    consume(1);
    return b;
  }
  std::uint8_t need() {
    int b = next();
    if (b < 0) truncated();
    return static_cast<std::uint8_t>(b);
  }
  std::uint64_t consumed() const noexcept { return consumed_; }

 private:
  reader& in_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::uint64_t consumed_ = 0;
};

/// Streaming gzip decoder over any number of concatenated members. Raw inflate plus our own
/// header/trailer parsing, so that errors get precise messages and the CRC is libdeflate's.
class gunzip {
 public:
  gunzip(reader& in, std::size_t buffer_size) : in_(in, buffer_size) {}

  /// Parses the first member header (throws when the input is not gzip).
  void start() {
    if (state_ != state::initial) return;
    begin_member();
    const std::byte* p = nullptr;
    if (!in_.fill()) truncated();
    p = in_.data();
    first_compressed_ = ((static_cast<unsigned>(*p) >> 1) & 3u) != 0;  // BTYPE of the first block
    state_ = state::body;
  }

  /// Whether the first deflate block of the first member is compressed (not stored).
  bool first_block_compressed() const noexcept { return first_compressed_; }

  /// Decompresses into out; returns how many bytes were placed, less than out.size() only at
  /// the end of the last member.
  std::size_t read(std::span<std::byte> out) {
    start();
    std::size_t produced = 0;
    z_stream* z = inflater_.get();
    while (produced < out.size() && state_ != state::done) {
      if (state_ == state::header) {
        if (!next_member()) {
          state_ = state::done;
          break;
        }
        state_ = state::body;
      }
      if (!in_.fill()) truncated();
      std::size_t in_avail = std::min<std::size_t>(in_.available(), UINT_MAX);
      std::size_t out_avail = std::min<std::size_t>(out.size() - produced, UINT_MAX);
      z->next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in_.data()));
      z->avail_in = static_cast<uInt>(in_avail);
      z->next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      z->avail_out = static_cast<uInt>(out_avail);
      int rc = inflate(z, Z_NO_FLUSH);
      std::size_t used = in_avail - z->avail_in;
      std::size_t made = out_avail - z->avail_out;
      in_.consume(used);
      crc_ = crc32(crc_, out.data() + produced, made);
      size_ += made;
      produced += made;
      switch (rc) {
        case Z_OK:
        case Z_BUF_ERROR:  // no progress possible: the loop refills input or returns
          break;
        case Z_STREAM_END:
          finish_member();
          state_ = state::header;
          break;
        case Z_MEM_ERROR: throw std::bad_alloc();
        case Z_DATA_ERROR: corrupt(std::string("invalid deflate data (") + (z->msg ? z->msg : "unknown error") + ")");
        default: corrupt("invalid deflate data (zlib error " + std::to_string(rc) + ")");
      }
    }
    return produced;
  }

  std::uint64_t consumed() const noexcept { return in_.consumed(); }

 private:
  enum class state { initial, body, header, done };

  // After a member: another member, or the end. Zero bytes up to the end are accepted (GNU
  // gzip does the same) because block devices, tapes and files extended by a crash pad with
  // zeros while the members before them are intact and CRC-checked; any other trailing byte
  // means the file is not what we wrote and is rejected.
  bool next_member() {
    if (!in_.fill()) return false;
    if (*in_.data() == std::byte{0}) {
      do {
        const std::byte* p = in_.data();
        std::size_t n = in_.available();
        if (std::any_of(p, p + n, [](std::byte b) { return b != std::byte{0}; }))
          corrupt("trailing garbage after gzip data");
        in_.consume(n);
      } while (in_.fill());
      return false;
    }
    begin_member();
    return true;
  }

  void begin_member() {
    bool first = state_ == state::initial;
    std::uint32_t hcrc = 0;
    auto need = [&] {
      std::uint8_t b = in_.need();
      hcrc = libdeflate_crc32(hcrc, &b, 1);
      return b;
    };
    int id1 = in_.next();
    if (id1 < 0) corrupt(first ? "not a gzip file (empty input)" : "trailing garbage after gzip data");
    int id2 = in_.next();
    if (id1 == 0x1f && id2 < 0) truncated();
    if (id1 != 0x1f || id2 != 0x8b) corrupt(first ? "not a gzip file" : "trailing garbage after gzip data");
    const std::uint8_t magic[2] = {0x1f, 0x8b};
    hcrc = libdeflate_crc32(hcrc, magic, 2);
    std::uint8_t method = need();
    if (method != 8) corrupt("not a gzip file (unknown compression method " + std::to_string(method) + ")");
    std::uint8_t flags = need();
    if (flags & 0xE0) corrupt("bad gzip header (reserved flags set)");
    for (int i = 0; i < 6; ++i) need();  // MTIME, XFL, OS
    if (flags & 0x04) {                  // FEXTRA
      std::size_t xlen = need();
      xlen |= static_cast<std::size_t>(need()) << 8;
      while (xlen--) need();
    }
    if (flags & 0x08)  // FNAME
      while (need() != 0) {
      }
    if (flags & 0x10)  // FCOMMENT
      while (need() != 0) {
      }
    if (flags & 0x02) {  // FHCRC: low 16 bits of the CRC of the header so far
      std::uint32_t expect = hcrc & 0xFFFFu;
      std::uint32_t got = in_.need();
      got |= static_cast<std::uint32_t>(in_.need()) << 8;
      if (got != expect) corrupt("bad gzip header (header CRC mismatch)");
    }
    if (inflateReset(inflater_.get()) != Z_OK) corrupt("invalid deflate data (inflateReset failed)");
    crc_ = 0;
    size_ = 0;
  }

  void finish_member() {
    std::uint32_t crc = 0, isize = 0;
    for (int i = 0; i < 4; ++i) crc |= static_cast<std::uint32_t>(in_.need()) << (8 * i);
    for (int i = 0; i < 4; ++i) isize |= static_cast<std::uint32_t>(in_.need()) << (8 * i);
    if (crc != crc_) corrupt("CRC mismatch");
    if (isize != static_cast<std::uint32_t>(size_ & 0xFFFFFFFFu)) corrupt("length mismatch (ISIZE)");
  }

  input_buffer in_;
  inflate_stream inflater_;
  state state_ = state::initial;
  std::uint32_t crc_ = 0;
  std::uint64_t size_ = 0;
  bool first_compressed_ = false;
};

}  // namespace detail::gzip_impl

}  // namespace hone::backup
