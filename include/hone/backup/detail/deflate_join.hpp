// Joining the output of a whole-buffer deflate library into one deflate stream.
// Kept because no library does it: without it the parallel writer could not use libdeflate,
// which deflates database pages nearly twice as fast as zlib.
//
// gzip_compressor writes a single gzip member whose deflate stream is the concatenation of
// independently compressed blocks (pigz style). That works when every block but the last is
// non-final and ends on a byte boundary, which is what zlib's Z_SYNC_FLUSH produces. A
// whole-buffer library such as libdeflate has no flush modes: each buffer it compresses is a
// complete stream whose last block has BFINAL = 1, padded with zero bits to the byte.
//
// make_joinable() turns such a complete stream into a flushed, non-final one: scan() walks the
// block structure (Huffman headers and symbols are decoded, no data is produced) to find the
// bit where the final block starts and the bit where it ends; then BFINAL is cleared and an
// empty stored block is appended (3 header bits, padding, 00 00 FF FF), exactly the bytes a
// sync flush ends with. The result decodes to the same data and can be followed by any deflate
// data. Scanning costs one or two table lookups per symbol, about a tenth of the time
// libdeflate takes to compress at level 6.
//
// Everything that is not a complete, well-formed deflate stream (truncated, trailing bytes,
// invalid codes, empty input) makes scan() return false and make_joinable() return 0, so that
// the caller can fall back to another way of encoding the block.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hone::backup::detail::deflate_join {

/// Where the final block of a complete deflate stream lies, in bits from the start.
struct layout {
  std::size_t final_header_bit = 0;  ///< first bit (BFINAL) of the block with BFINAL = 1
  std::size_t end_bit = 0;           ///< the bit just after that block's end-of-block code
};

namespace scan_impl {

inline constexpr unsigned max_code_len = 15;  // longest code in deflate

// A decoded symbol, as the table entries hold it. The bits to consume include the extra bits
// that follow a length or distance code, so that a match is skipped without further lookups.
inline constexpr std::uint32_t bits_mask = 0xFF;       // code length + extra bits
inline constexpr std::uint32_t valid = 1u << 8;        // 0 for bits that no code starts with
inline constexpr std::uint32_t is_length = 1u << 9;    // literal/length code: a length, 257-285
inline constexpr std::uint32_t is_end = 1u << 10;      // literal/length code: end of block, 256
inline constexpr std::uint32_t is_invalid = 1u << 11;  // a symbol deflate does not define
inline constexpr unsigned symbol_shift = 16;

/// A canonical Huffman code for decoding. Codes of up to root_bits bits, which carry nearly
/// all symbols, are found with one lookup indexed by the next root_bits input bits (deflate
/// packs a code from its most significant bit, read LSB first); longer ones are decoded bit
/// by bit from the code counts. Small enough (under 5 KiB) to be rebuilt on the stack.
struct huffman {
  static constexpr unsigned root_bits = 10;
  static constexpr std::uint32_t longer = 0xFFFFFFFF;  // entry: the code is longer than root_bits

  std::array<std::uint32_t, std::size_t{1} << root_bits> table;
  std::array<std::uint16_t, max_code_len + 1> count;  // number of codes of each length
  std::array<std::uint16_t, 288> symbols;             // in code order: by length, then value
  const std::uint32_t* info = nullptr;                // entry of each symbol, but for the length

  /// Builds the code from code lengths (each 0-15, n <= 288) and the entries of the symbols
  /// (symbol_info[s] + code length is the entry of s). Returns false for lengths that do not
  /// make a prefix code, and for an incomplete code unless it is empty or a single one-bit
  /// code and one_code_ok: the rules of zlib's inflate, so that zlib reads what passes here.
  bool build(const std::uint8_t* lengths, unsigned n, const std::uint32_t* symbol_info, bool one_code_ok) noexcept {
    info = symbol_info;
    count.fill(0);
    for (unsigned i = 0; i < n; ++i) {
      if (lengths[i] > max_code_len) return false;
      ++count[lengths[i]];
    }
    count[0] = 0;
    int left = 1;  // codes of the current length still unused
    unsigned max_len = 0;
    std::array<std::uint16_t, max_code_len + 2> offset{};
    for (unsigned len = 1; len <= max_code_len; ++len) {
      left = 2 * left - count[len];
      if (left < 0) return false;  // over-subscribed
      if (count[len] != 0) max_len = len;
      offset[len + 1] = static_cast<std::uint16_t>(offset[len] + count[len]);
    }
    if (left > 0 && max_len != 0 && !(one_code_ok && max_len == 1)) return false;  // incomplete
    for (unsigned sym = 0; sym < n; ++sym) {
      if (lengths[sym] != 0) symbols[offset[lengths[sym]]++] = static_cast<std::uint16_t>(sym);
    }
    table.fill(0);
    unsigned code = 0;  // canonical codes in increasing order, most significant bit first
    std::size_t index = 0;
    for (unsigned len = 1; len <= max_code_len; ++len, code <<= 1) {
      for (unsigned i = 0; i < count[len]; ++i, ++code, ++index) {
        if (len <= root_bits) {
          const std::uint32_t entry = info[symbols[index]] + len;
          for (std::size_t k = reverse(code, len); k < table.size(); k += std::size_t{1} << len) table[k] = entry;
        } else {
          table[reverse(code >> (len - root_bits), root_bits)] = longer;
        }
      }
    }
    return true;
  }

  /// The entry of the code that bits (the next input bits, at least 15 valid) start with.
  std::uint32_t decode(std::uint64_t bits) const noexcept {
    const std::uint32_t e = table[static_cast<std::size_t>(bits & (table.size() - 1))];
    return e != longer ? e : decode_slow(bits);
  }

 private:
  static std::size_t reverse(unsigned code, unsigned len) noexcept {
    std::size_t r = 0;
    for (unsigned i = 0; i < len; ++i) r |= std::size_t{(code >> i) & 1u} << (len - 1 - i);
    return r;
  }

  std::uint32_t decode_slow(std::uint64_t bits) const noexcept {
    unsigned code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= max_code_len; ++len) {
      code |= static_cast<unsigned>(bits & 1u);
      bits >>= 1;
      if (code >= first && code - first < count[len]) return info[symbols[index + (code - first)]] + len;
      index += count[len];
      first = (first + count[len]) << 1;
      code <<= 1;
    }
    return 0;
  }
};

/// LSB-first bit reader over n bytes. Bits past the end read as zero, and reading them shows
/// in overrun(); nothing is ever read outside the buffer.
class bit_reader {
 public:
  bit_reader(const unsigned char* p, std::size_t n) noexcept : p_(p), n_(n), limit_(n * 8) {}

  /// The next 57 bits at least, first bit least significant.
  std::uint64_t peek() const noexcept {
    const std::size_t byte = pos_ >> 3;
    std::uint64_t w = 0;
    if (byte + 8 <= n_) {
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&w, p_ + byte, 8);
      } else {
        for (unsigned i = 0; i < 8; ++i) w |= std::uint64_t{p_[byte + i]} << (8 * i);
      }
    } else {
      for (std::size_t i = byte; i < n_; ++i) w |= std::uint64_t{p_[i]} << (8 * (i - byte));
    }
    return w >> (pos_ & 7);
  }
  /// The next k bits (k <= 32) as a number, first bit least significant.
  unsigned take(unsigned k) noexcept {
    const auto v = static_cast<unsigned>(peek() & ((std::uint64_t{1} << k) - 1));
    pos_ += k;
    return v;
  }
  void skip(std::size_t k) noexcept { pos_ += k; }
  void align() noexcept { pos_ = (pos_ + 7) & ~std::size_t{7}; }
  std::size_t pos() const noexcept { return pos_; }
  bool overrun() const noexcept { return pos_ > limit_; }

 private:
  const unsigned char* p_;
  std::size_t n_;
  std::size_t limit_;
  std::size_t pos_ = 0;
};

// Entries (without the code length) of the literal/length symbols, the distance symbols and
// the code length symbols. Extra bits: RFC 1951, 3.2.5.
inline constexpr std::array<std::uint32_t, 288> literal_length_info = [] {
  constexpr std::uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                             2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  std::array<std::uint32_t, 288> t{};
  for (std::uint32_t s = 0; s < 288; ++s) {
    std::uint32_t e = s << symbol_shift | valid;
    if (s == 256) e |= is_end;
    if (s > 256 && s < 286) e |= is_length | length_extra[s - 257];
    if (s >= 286) e |= is_invalid;
    t[s] = e;
  }
  return t;
}();
inline constexpr std::array<std::uint32_t, 32> distance_info = [] {
  std::array<std::uint32_t, 32> t{};
  for (std::uint32_t s = 0; s < 32; ++s)
    t[s] = s << symbol_shift | valid | (s < 30 ? (s < 4 ? 0 : s / 2 - 1) : is_invalid);
  return t;
}();
inline constexpr std::array<std::uint32_t, 19> code_length_info = [] {
  std::array<std::uint32_t, 19> t{};
  for (std::uint32_t s = 0; s < 19; ++s) t[s] = s << symbol_shift | valid;
  return t;
}();
// Order in which a dynamic block header lists the code length code lengths.
inline constexpr std::uint8_t code_length_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                       11, 4,  12, 3, 13, 2, 14, 1, 15};

// The symbols of one Huffman-coded block, from just after its header to its end-of-block code.
inline bool skip_symbols(bit_reader& br, const huffman& lit, const huffman& dist) noexcept {
  for (;;) {
    if (br.overrun()) return false;
    // One peek covers a whole length/distance pair: at most 15 + 5 + 15 + 13 = 48 bits. The
    // bits after a literal are decoded as a distance too, and ignored: literals and matches
    // come in no predictable order, and a branch on which one came would often mispredict.
    const std::uint64_t w = br.peek();
    const std::uint32_t e = lit.decode(w);
    if ((e & (valid | is_end | is_invalid)) != valid) {
      if (e != 0 && (e & is_end) != 0) {
        br.skip(e & bits_mask);
        return !br.overrun();
      }
      return false;
    }
    const std::uint32_t used = e & bits_mask;
    const std::uint32_t d = dist.decode(w >> used);
    const bool match = (e & is_length) != 0;
    if (match && (d & (valid | is_invalid)) != valid) return false;
    br.skip(used + (match ? d & bits_mask : 0));
  }
}

// Reads the code lengths of a dynamic block's header into lengths (hlit + hdist of them).
inline bool read_dynamic_lengths(bit_reader& br, huffman& scratch, std::uint8_t* lengths, unsigned& hlit,
                                 unsigned& hdist) noexcept {
  hlit = br.take(5) + 257;
  hdist = br.take(5) + 1;
  if (hlit > 286 || hdist > 30) return false;
  const unsigned hclen = br.take(4) + 4;
  std::uint8_t cl[19] = {};
  for (unsigned i = 0; i < hclen; ++i) cl[code_length_order[i]] = static_cast<std::uint8_t>(br.take(3));
  if (!scratch.build(cl, 19, code_length_info.data(), false)) return false;
  const unsigned total = hlit + hdist;
  for (unsigned i = 0; i < total;) {
    if (br.overrun()) return false;
    const std::uint32_t e = scratch.decode(br.peek());
    if (e == 0) return false;
    br.skip(e & bits_mask);
    const std::uint32_t sym = e >> symbol_shift;
    if (sym < 16) {
      lengths[i++] = static_cast<std::uint8_t>(sym);
      continue;
    }
    unsigned rep = 0;
    std::uint8_t value = 0;
    if (sym == 16) {
      if (i == 0) return false;
      value = lengths[i - 1];
      rep = 3 + br.take(2);
    } else if (sym == 17) {
      rep = 3 + br.take(3);
    } else {
      rep = 11 + br.take(7);
    }
    if (rep > total - i) return false;
    while (rep--) lengths[i++] = value;
  }
  return !br.overrun();
}

}  // namespace scan_impl

/// Walks the raw deflate stream in p[0, n) and fills out. Returns false when the bytes are not
/// exactly one complete stream (its final block ending in the last byte). Uses ~10 KiB of stack.
inline bool scan(const std::byte* p, std::size_t n, layout& out) noexcept {
  using namespace scan_impl;
  if (n == 0) return false;
  huffman lit, dist;  // dist also decodes the code length code while a dynamic header is read
  bit_reader br(reinterpret_cast<const unsigned char*>(p), n);
  for (;;) {
    const std::size_t header = br.pos();
    const unsigned final = br.take(1);
    const unsigned type = br.take(2);
    if (type == 0) {  // stored: LEN bytes after the next byte boundary
      br.align();
      const unsigned len = br.take(16);
      const unsigned nlen = br.take(16);
      if ((len ^ 0xFFFFu) != nlen) return false;
      br.skip(std::size_t{len} * 8);
    } else if (type == 1 || type == 2) {
      std::uint8_t lengths[288 + 32];
      unsigned hlit = 288, hdist = 32;
      if (type == 1) {  // fixed Huffman codes (RFC 1951, 3.2.6)
        for (unsigned i = 0; i < 288; ++i) lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
        for (unsigned i = 0; i < 32; ++i) lengths[288 + i] = 5;
      } else if (!read_dynamic_lengths(br, dist, lengths, hlit, hdist)) {
        return false;
      }
      if (!lit.build(lengths, hlit, literal_length_info.data(), true) ||
          !dist.build(lengths + hlit, hdist, distance_info.data(), true))
        return false;
      if (!skip_symbols(br, lit, dist)) return false;
    } else {
      return false;  // reserved block type
    }
    if (br.overrun()) return false;
    if (final) {
      out.final_header_bit = header;
      out.end_bit = br.pos();
      return (out.end_bit + 7) / 8 == n;
    }
  }
}

/// Bytes make_joinable() may add: one for the stored block's header bits, four for LEN/NLEN.
inline constexpr std::size_t join_overhead = 5;

/// Turns the complete raw deflate stream in buf[0, n) into a non-final one ending, byte
/// aligned, with an empty stored block, as zlib's Z_SYNC_FLUSH does; buf has room for cap
/// bytes (n + join_overhead always suffices). Returns the new length, or 0 when the bytes are
/// not one complete stream or cap is too small (buf is then unchanged).
inline std::size_t make_joinable(std::byte* buf, std::size_t n, std::size_t cap) noexcept {
  layout l;
  if (!scan(buf, n, l)) return 0;
  // The empty stored block: three zero bits (BFINAL 0, BTYPE 00) at end_bit, zero padding to
  // the byte boundary, then LEN 0 and NLEN 0xFFFF.
  const std::size_t len = (l.end_bit + 3 + 7) / 8;
  if (len + 4 > cap) return 0;
  buf[l.final_header_bit >> 3] &= static_cast<std::byte>(~(1u << (l.final_header_bit & 7)));
  for (std::size_t i = n; i < len; ++i) buf[i] = std::byte{0};
  if (l.end_bit & 7) buf[l.end_bit >> 3] &= static_cast<std::byte>((1u << (l.end_bit & 7)) - 1);
  buf[len] = std::byte{0x00};
  buf[len + 1] = std::byte{0x00};
  buf[len + 2] = std::byte{0xFF};
  buf[len + 3] = std::byte{0xFF};
  return len + 4;
}

}  // namespace hone::backup::detail::deflate_join
