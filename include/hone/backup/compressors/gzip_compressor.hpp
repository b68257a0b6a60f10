// gzip_compressor: writes standard .gz files (one member, readable by gunzip) using every
// core and skipping deflate for ciphertext, with bounded memory whatever the database size.
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/compressors/gzip_options.hpp>
#include <hone/backup/detail/gzip.hpp>
#include <hone/backup/detail/parallel_deflate.hpp>
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

/// Compressor writing one gzip member (RFC 1952) per backup, pigz style: the input is cut
/// into blocks that worker threads deflate in parallel, each ending byte aligned and not final
/// (a sync flush), so the pieces join into one deflate stream that any gunzip reads. With the
/// zlib engine each block is primed with the previous 32 KiB as dictionary, and the ratio is
/// within a fraction of a percent of single-threaded zlib. libdeflate, the default engine,
/// takes no dictionary and has no flush: each block is compressed as a stream of its own
/// whose final block is then made non-final and flushed (detail/deflate_join.hpp); on
/// database pages that costs ~0.2% of size against single-threaded zlib, for ~1.9x the speed.
///
/// Whether to deflate is decided per block, not for the whole stream: a plain database can
/// mix compressible pages with blobs of compressed media, and a per-block choice keeps the
/// gain on the former without paying deflate's CPU on the latter. A block whose sampled byte
/// entropy says "ciphertext" is written as stored blocks, in place and at copy speed; a block
/// that deflate shrinks by less than 1/64 is stored too. Output is thus never larger than the
/// input plus 5 bytes per 64 KiB and the 18-byte gzip framing.
///
/// Memory: threads + 2 blocks of input (1 MiB each by default) and as many deflate output
/// buffers, resident only as far as deflate output fills them, plus per deflating thread
/// ~300 KiB of zlib state, or with libdeflate ~650 KiB of compressor state (levels 2-9; 200
/// KiB at level 1) and a contiguous copy of the block. Measured peak with two threads on
/// compressible input: about 7 MiB with zlib, 9-10 MiB with libdeflate; ciphertext, which is
/// not deflated, needs neither state nor copy.
class gzip_compressor {
 public:
  using options = gzip_options;

  explicit gzip_compressor(options opts = {}) : opts_(opts) {
    if (opts_.level < 0) opts_.level = 6;  // zlib's own default
    opts_.level = std::min(opts_.level, 9);
    opts_.block_size =
        std::clamp(opts_.block_size, detail::gzip_impl::min_block_size, detail::gzip_impl::max_block_size);
    if (opts_.threads == 0) opts_.threads = std::max(1u, std::thread::hardware_concurrency());
    opts_.threads = std::min(opts_.threads, 64u);
  }

  const options& settings() const noexcept { return opts_; }

  /// Writes in as one gzip member to out. progress gets the input bytes consumed so far.
  /// Input that spans more than one block is read by the worker threads, one read() at a
  /// time and in order; out.write() and progress are called on the calling thread only.
  compress_result compress(reader& in, writer& out, const progress_fn& progress) const {
    detail::gzip_impl::parallel_deflate job(opts_, in);
    return job.run(out, progress);
  }

  /// Decodes every member of a gzip stream (CRC and length checked) into out; returns the
  /// number of bytes written. progress gets the compressed input bytes consumed so far, whose
  /// total (the backup file's size) is known in advance, unlike the decompressed size.
  std::uint64_t decompress(reader& in, writer& out, const progress_fn& progress) const {
    using namespace detail::gzip_impl;
    gunzip gz(in, io_buffer_size);
    auto buf = std::make_unique_for_overwrite<std::byte[]>(io_buffer_size);
    std::uint64_t total = 0;
    for (;;) {
      std::size_t n = gz.read({buf.get(), io_buffer_size});
      if (n == 0) break;
      out.write({buf.get(), n});
      total += n;
      if (progress) progress(gz.consumed());
      if (n < io_buffer_size) break;  // a short read means every member was checked
    }
    if (progress) progress(gz.consumed());
    return total;
  }

  /// Decompresses the first buf.size() bytes (or fewer when the data is shorter) without
  /// verifying the CRC of what was not read, and tells whether the first deflate block is
  /// compressed (false for stored, which is what compress() writes for ciphertext). Only the
  /// first block is looked at, so a plain database whose first MiB is an incompressible blob
  /// reads as stored although compress() reported compressed=true for the whole stream.
  peek_result peek(reader& in, std::span<std::byte> buf) const {
    using namespace detail::gzip_impl;
    gunzip gz(in, std::min<std::size_t>(io_buffer_size, std::max<std::size_t>(4096, buf.size() + 64)));
    gz.start();
    peek_result r;
    r.compressed = gz.first_block_compressed();
    r.bytes = gz.read(buf);
    return r;
  }

  std::string_view suffix() const noexcept { return ".db.gz"; }

 private:
  options opts_;
};

static_assert(Compressor<gzip_compressor>);

}  // namespace hone::backup
