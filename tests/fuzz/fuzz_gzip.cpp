// libFuzzer target: the gzip reader (gzip.hpp). Arbitrary bytes go through decompress() and
// peek(), which must either succeed or throw hone::backup::error, never crash, and never
// produce more than a bounded amount of output (a writer that refuses more stops gzip bombs
// from turning into memory use). The input is also compressed and decompressed again, which
// must give back the same bytes; a reader that hands out odd-sized pieces exercises the
// buffering.
#include <hone/backup/compressors/gzip_compressor.hpp>
#include <hone/backup/io.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <span>
#include <vector>

namespace hb = hone::backup;

namespace {

constexpr std::size_t max_output = 4u << 20;  // far beyond any expansion of a few KiB of input

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_gzip: invariant failed: %s\n", what);
  std::abort();
}

struct output_limit {};  // thrown by bounded_writer: not a hone::backup::error on purpose

/// Collects the output, up to max_output bytes.
class bounded_writer final : public hb::writer {
 public:
  void write(std::span<const std::byte> data) override {
    if (data.size() > max_output - bytes.size()) throw output_limit{};
    bytes.insert(bytes.end(), data.begin(), data.end());
  }
  std::vector<std::byte> bytes;
};

/// Hands out the data in pieces of a size chosen by the input (1-256 bytes), so that headers,
/// trailers and deflate data straddle read boundaries.
class piecewise_reader final : public hb::reader {
 public:
  piecewise_reader(std::span<const std::byte> data, std::size_t piece) : data_(data), piece_(piece) {}
  std::size_t read(std::span<std::byte> buf) override {
    const std::size_t n = std::min({buf.size(), data_.size(), piece_});
    if (n != 0) std::memcpy(buf.data(), data_.data(), n);
    data_ = data_.subspan(n);
    return n;
  }

 private:
  std::span<const std::byte> data_;
  std::size_t piece_;
};

/// Runs f, which must succeed or throw hone::backup::error (or hit the output limit). Returns
/// whether it succeeded.
template <class F>
bool succeeds(F&& f) {
  try {
    f();
    return true;
  } catch (const hb::error&) {
    return false;
  } catch (const output_limit&) {
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_gzip: unexpected exception: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  hb::gzip_options opts;
  opts.threads = 1;
  opts.block_size = 0;  // the smallest (64 KiB): less memory to set up per run
  opts.level = size == 0 ? 6 : data[0] % 10;
  opts.engine = size > 1 && (data[1] & 1) ? hb::deflate_engine::zlib : hb::deflate_engine::libdeflate;
  const hb::gzip_compressor gz(opts);

  // Decompressing arbitrary bytes, whole and in pieces: the same outcome either way.
  bounded_writer whole;
  std::uint64_t reported = 0;
  std::uint64_t last_progress = 0;
  const bool ok = succeeds([&] {
    hb::span_reader r(in);
    reported = gz.decompress(r, whole, [&](std::uint64_t consumed) {
      if (consumed < last_progress || consumed > size) fail("progress goes backwards or beyond the input");
      last_progress = consumed;
    });
  });
  if (ok && reported != whole.bytes.size()) fail("decompress returns the number of bytes written");
  const std::size_t piece = size == 0 ? 1 : 1 + data[0];
  bounded_writer pieces;
  const bool ok_pieces = succeeds([&] {
    piecewise_reader r(in, piece);
    gz.decompress(r, pieces, {});
  });
  if (ok != ok_pieces) fail("success does not depend on how the input is read");
  if (ok && whole.bytes != pieces.bytes) fail("the output does not depend on how the input is read");

  // peek: at most the buffer, a prefix of what decompress gives, and no failure where
  // decompress succeeds (peek checks less).
  std::vector<std::byte> head(size == 0 ? 0 : data[size - 1] * 16u);
  const bool peeked = succeeds([&] {
    hb::span_reader r(in);
    const hb::peek_result p = gz.peek(r, head);
    if (p.bytes > head.size()) fail("peek returns more than the buffer");
    if (ok && (p.bytes > whole.bytes.size() || !std::equal(head.begin(), head.begin() + p.bytes, whole.bytes.begin())))
      fail("peek disagrees with decompress");
  });
  if (ok && !peeked) fail("peek fails on input that decompresses");

  // Round trip: compress the input, decompress it again.
  bounded_writer packed;
  hb::span_reader src(in);
  const hb::compress_result c = gz.compress(src, packed, {});
  if (c.bytes_in != size || c.bytes_out != packed.bytes.size()) fail("compress reports its sizes");
  bounded_writer unpacked;
  hb::span_reader back(packed.bytes);
  gz.decompress(back, unpacked, {});
  if (unpacked.bytes.size() != size || !std::equal(in.begin(), in.end(), unpacked.bytes.begin()))
    fail("decompress(compress(data)) != data");
  return 0;
}
