// Prototype (issue 6): lets a whole-buffer deflate library (libdeflate) take part in a
// pigz-style single-member gzip stream. libdeflate has no sync flush: every buffer it
// compresses ends with a final block (BFINAL = 1) and zero padding. scan_deflate() walks the
// block structure of such a stream (Huffman symbols are decoded, nothing is written) to find
// the bit where the final block starts and the bit where it ends; make_joinable() then clears
// BFINAL and appends an empty stored block, which is exactly what zlib's Z_SYNC_FLUSH emits.
// The result is byte aligned and can be followed by the next block's deflate data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hone_bench::proto {

namespace scan_detail {

/// A canonical Huffman code as a flat table indexed by the next `bits` input bits
/// (LSB-first). Entry: symbol << 4 | code length; 0 = no code.
struct huffman {
  std::array<std::uint16_t, 1u << 15> table;
  unsigned bits = 0;

  bool build(const std::uint8_t* lengths, unsigned count) {
    unsigned bl_count[16] = {};
    unsigned max_len = 0;
    for (unsigned i = 0; i < count; ++i) {
      ++bl_count[lengths[i]];
      if (lengths[i] > max_len) max_len = lengths[i];
    }
    if (max_len == 0) {  // a distance code with no codes: only literals follow
      bits = 1;
      table[0] = table[1] = 0;
      return true;
    }
    bits = max_len;
    const unsigned size = 1u << bits;
    std::memset(table.data(), 0, size * sizeof(std::uint16_t));
    unsigned next[16] = {};
    unsigned code = 0;
    bl_count[0] = 0;
    for (unsigned len = 1; len <= 15; ++len) {
      code = (code + bl_count[len - 1]) << 1;
      next[len] = code;
    }
    for (unsigned sym = 0; sym < count; ++sym) {
      unsigned len = lengths[sym];
      if (len == 0) continue;
      unsigned c = next[len]++;
      if (c >= (1u << len)) return false;  // over-subscribed
      unsigned rev = 0;
      for (unsigned i = 0; i < len; ++i) rev |= ((c >> i) & 1u) << (len - 1 - i);
      for (unsigned k = rev; k < size; k += 1u << len) table[k] = static_cast<std::uint16_t>(sym << 4 | len);
    }
    return true;
  }
};

class bit_reader {
 public:
  bit_reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::uint64_t peek() const noexcept {
    std::size_t byte = pos_ >> 3;
    std::uint64_t w = 0;
    if (byte + 8 <= n_) {
      std::memcpy(&w, p_ + byte, 8);
    } else if (byte < n_) {
      std::memcpy(&w, p_ + byte, n_ - byte);
    }
    return w >> (pos_ & 7);
  }
  unsigned take(unsigned k) noexcept {
    unsigned v = static_cast<unsigned>(peek() & ((1ull << k) - 1));
    pos_ += k;
    return v;
  }
  void skip(std::size_t k) noexcept { pos_ += k; }
  std::size_t pos() const noexcept { return pos_; }
  bool overrun() const noexcept { return pos_ > n_ * 8; }
  void align() noexcept { pos_ = (pos_ + 7) & ~std::size_t{7}; }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

inline constexpr std::uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                               2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
inline constexpr std::uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

}  // namespace scan_detail

struct deflate_layout {
  std::size_t final_header_bit = 0;  ///< where the block with BFINAL = 1 starts
  std::size_t end_bit = 0;           ///< just after that block's last bit
};

/// Walks a complete raw deflate stream of n bytes. Returns false when it is not one.
inline bool scan_deflate(const std::uint8_t* p, std::size_t n, deflate_layout& out) {
  using namespace scan_detail;
  // Two tables per thread: 128 KiB, reused for every block.
  thread_local huffman lit, dist;
  bit_reader br(p, n);
  for (;;) {
    const std::size_t header = br.pos();
    const unsigned final = br.take(1);
    const unsigned type = br.take(2);
    if (type == 0) {
      br.align();
      unsigned len = br.take(16);
      unsigned nlen = br.take(16);
      if ((len ^ 0xFFFFu) != nlen) return false;
      br.skip(std::size_t{len} * 8);
    } else if (type == 1 || type == 2) {
      std::uint8_t lengths[320];
      unsigned hlit = 288, hdist = 32;
      if (type == 1) {
        for (unsigned i = 0; i < 288; ++i) lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
        for (unsigned i = 0; i < 32; ++i) lengths[288 + i] = 5;
      } else {
        hlit = br.take(5) + 257;
        hdist = br.take(5) + 1;
        const unsigned hclen = br.take(4) + 4;
        static constexpr std::uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
        std::uint8_t cl[19] = {};
        for (unsigned i = 0; i < hclen; ++i) cl[order[i]] = static_cast<std::uint8_t>(br.take(3));
        huffman& clh = dist;  // reused: built again below
        if (!clh.build(cl, 19)) return false;
        for (unsigned i = 0; i < hlit + hdist;) {
          std::uint16_t e = clh.table[br.peek() & ((1u << clh.bits) - 1)];
          if (e == 0) return false;
          br.skip(e & 15);
          unsigned sym = e >> 4;
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
          if (i + rep > hlit + hdist) return false;
          while (rep--) lengths[i++] = value;
        }
        if (br.overrun()) return false;
      }
      if (!lit.build(lengths, hlit) || !dist.build(lengths + hlit, hdist)) return false;
      const std::uint64_t lit_mask = (1ull << lit.bits) - 1, dist_mask = (1ull << dist.bits) - 1;
      for (;;) {
        std::uint16_t e = lit.table[br.peek() & lit_mask];
        if (e == 0) return false;
        br.skip(e & 15);
        unsigned sym = e >> 4;
        if (sym < 256) continue;
        if (sym == 256) break;
        sym -= 257;
        if (sym >= 29) return false;
        br.skip(len_extra[sym]);
        e = dist.table[br.peek() & dist_mask];
        if (e == 0) return false;
        br.skip(e & 15);
        unsigned d = e >> 4;
        if (d >= 30) return false;
        br.skip(dist_extra[d]);
        if (br.overrun()) return false;
      }
    } else {
      return false;
    }
    if (br.overrun()) return false;
    if (final) {
      out.final_header_bit = header;
      out.end_bit = br.pos();
      return (out.end_bit + 7) / 8 == n;
    }
  }
}

/// Turns a complete deflate stream of n bytes in buf (capacity cap) into a non-final one that
/// ends byte aligned with an empty stored block (00 00 FF FF), like zlib's Z_SYNC_FLUSH.
/// Returns the new length, or 0 when the stream cannot be parsed or cap is too small.
inline std::size_t make_joinable(std::uint8_t* buf, std::size_t n, std::size_t cap) {
  deflate_layout l;
  if (!scan_deflate(buf, n, l)) return 0;
  buf[l.final_header_bit >> 3] &= static_cast<std::uint8_t>(~(1u << (l.final_header_bit & 7)));
  // Three zero bits (BFINAL 0, BTYPE 00) at end_bit, then padding to the byte: the padding
  // libdeflate wrote is zero already, a byte past the end must be added as zero.
  const std::size_t header_end = l.end_bit + 3;
  std::size_t len = (header_end + 7) / 8;
  if (len + 4 > cap) return 0;
  for (std::size_t i = n; i < len; ++i) buf[i] = 0;
  if (l.end_bit & 7) buf[l.end_bit >> 3] &= static_cast<std::uint8_t>((1u << (l.end_bit & 7)) - 1);
  buf[len] = 0x00;
  buf[len + 1] = 0x00;
  buf[len + 2] = 0xFF;
  buf[len + 3] = 0xFF;
  return len + 4;
}

}  // namespace hone_bench::proto
