// The parallel deflate of gzip_compressor::compress: worker threads read and deflate (or
// store) blocks, the calling thread writes them in order.
#pragma once

#include <hone/backup/compressors/gzip_options.hpp>
#include <hone/backup/detail/gzip.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

namespace hone::backup::detail::gzip_impl {

struct block_job {
  explicit block_job(std::size_t pieces)
      : in(pieces), out(std::make_unique_for_overwrite<std::byte[]>(pieces * block_buffer::stride)) {}
  block_buffer in;
  std::unique_ptr<std::byte[]> out;  // deflate output (untouched, so not resident, for ciphertext)
  std::span<const std::byte> encoded;
  std::uint64_t seq = 0;  // position in the stream
  std::uint32_t crc = 0;
  bool deflated = false;
  bool done = false;
  std::exception_ptr error;  // from reading or deflating this block; rethrown in order
};

// One compress() call. Workers take turns reading the next block (one read at a time, so
// the reader sees ordinary sequential calls, but from a worker thread) and then deflate or
// store it in parallel; the calling thread only writes the finished blocks in order and
// reports progress. Reading and writing thus overlap, which is what lets ciphertext, whose
// per-block work is a CRC, go as fast as a plain copy.
class parallel_deflate {
 public:
  parallel_deflate(const gzip_options& o, reader& in) : opts_(o), in_(in) {
    std::size_t pieces = std::max<std::size_t>(1, (o.block_size + max_stored_len / 2) / max_stored_len);
    // One block per worker (being read or deflated), one being written, and one spare so
    // that a worker finishing early need not wait for the writer.
    std::size_t n = o.threads + 2;
    jobs_.reserve(n);
    slots_.assign(n, nullptr);
    for (std::size_t i = 0; i < n; ++i) {
      jobs_.push_back(std::make_unique<block_job>(pieces));
      free_.push_back(jobs_.back().get());
    }
    tail_ = std::make_unique_for_overwrite<std::byte[]>(window_size);
  }
  parallel_deflate(const parallel_deflate&) = delete;
  parallel_deflate& operator=(const parallel_deflate&) = delete;
  ~parallel_deflate() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    free_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  compress_result run(writer& out, const progress_fn& progress) {
    compress_result res;
    const unsigned char xfl = opts_.level == 9 ? 2 : opts_.level == 1 ? 4 : 0;
    // MTIME 0: the backup's name carries the time, and equal input gives equal output.
    const std::byte header[10] = {std::byte{0x1f}, std::byte{0x8b}, std::byte{8}, std::byte{0},   std::byte{0},
                                  std::byte{0},    std::byte{0},    std::byte{0}, std::byte{xfl}, std::byte{3}};
    out.write(header);
    res.bytes_out = sizeof header;

    std::uint32_t crc = 0;
    auto retire = [&](block_job* j) {
      if (j->error) std::rethrow_exception(j->error);
      out.write(j->encoded);
      res.bytes_out += j->encoded.size();
      res.bytes_in += j->in.size();
      res.compressed = res.compressed || j->deflated;
      crc = crc32_combine(crc, j->crc, j->in.size());
      if (progress) progress(res.bytes_in);
    };

    // The first block is read here: input that fits in it needs no threads at all.
    block_job* first = free_.back();
    free_.pop_back();
    const bool more = read_next(*first);
    if (more) start_workers();
    if (first->error) std::rethrow_exception(first->error);
    if (first->in.size() != 0) {
      // The calling thread deflates no other block: its state goes right after this one.
      std::optional<block_deflater> stream;
      process(*first, stream);
      retire(first);
    }
    if (more) {
      {
        std::lock_guard lock(m_);
        free_.push_back(first);
      }
      free_cv_.notify_one();
      for (std::uint64_t want = 1;; ++want) {
        block_job* j = nullptr;
        {
          std::unique_lock lock(m_);
          done_cv_.wait(lock, [&] {
            if (want == total_) return true;
            block_job* s = slots_[want % slots_.size()];
            return s && s->done;
          });
          if (want == total_) break;
          j = slots_[want % slots_.size()];
        }
        retire(j);
        {
          std::lock_guard lock(m_);
          slots_[want % slots_.size()] = nullptr;
          free_.push_back(j);
        }
        free_cv_.notify_one();
      }
    }

    // An empty final stored block ends the deflate stream, so no block had to know that it
    // was the last one, which would have meant reading ahead.
    std::byte end[13] = {std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0xFF}, std::byte{0xFF}};
    put_le32(end + 5, crc);  // then the gzip trailer: CRC-32 and length mod 2^32
    put_le32(end + 9, static_cast<std::uint32_t>(res.bytes_in & 0xFFFFFFFFu));
    out.write(end);
    res.bytes_out += sizeof end;
    if (progress && res.bytes_in == 0) progress(0);
    return res;
  }

 private:
  // Reads the next block into j (the caller holds read_m_, or no worker runs yet). Returns
  // whether more input may follow.
  bool read_next(block_job& j) {
    j.seq = next_seq_++;
    j.error = nullptr;
    j.done = false;
    try {
      j.in.fill(in_, {tail_.get(), tail_len_});
    } catch (...) {
      j.error = std::current_exception();
      return false;
    }
    // Only full blocks are followed by more, and full blocks are longer than the window.
    tail_len_ = std::min(window_size, j.in.size());
    j.in.copy_tail(tail_.get(), tail_len_);
    return j.in.full();
  }

  void start_workers() {
    for (unsigned i = 0; i < opts_.threads; ++i) threads_.emplace_back([this] { work(); });
  }

  void work() {
    std::optional<block_deflater> stream;
    for (;;) {
      block_job* j = nullptr;
      {
        std::unique_lock read_lock(read_m_);
        if (input_done_) return;
        {
          std::unique_lock lock(m_);
          free_cv_.wait(lock, [&] { return stop_ || !free_.empty(); });
          if (stop_) return;
          j = free_.back();
          free_.pop_back();
        }
        bool more = read_next(*j);
        std::lock_guard lock(m_);
        if (!more) {
          input_done_ = true;
          bool is_block = j->in.size() != 0 || j->error;
          total_ = is_block ? j->seq + 1 : j->seq;
          if (!is_block) {
            free_.push_back(j);
            done_cv_.notify_one();
            return;
          }
        }
        slots_[j->seq % slots_.size()] = j;
      }
      if (!j->error) {
        try {
          process(*j, stream);
        } catch (...) {
          j->error = std::current_exception();
        }
      }
      {
        std::lock_guard lock(m_);
        j->done = true;
      }
      done_cv_.notify_one();
    }
  }

  void process(block_job& j, std::optional<block_deflater>& stream) const {
    j.crc = 0;
    for (std::size_t k = 0, n = j.in.piece_count(); k < n; ++k) {
      auto p = j.in.piece(k);
      j.crc = crc32(j.crc, p.data(), p.size());
    }
    j.deflated = false;
    // Deflate has to save at least 1/64 of the block (and 16 bytes) to be kept: below that,
    // storing costs next to nothing in size, restores at copy speed, and keeps a few bytes
    // shaved off a random tail from reporting ciphertext as compressed.
    std::size_t stored = stored_size(j.in.size());
    std::size_t margin = std::max<std::size_t>(stored / 64, 16);
    if (opts_.level > 0 && stored > margin && !(opts_.detect_incompressible && looks_incompressible(j.in))) {
      if (!stream) stream.emplace(opts_.level, opts_.engine);
      if (std::size_t n = stream->compress_block(j.in, j.out.get(), stored - margin); n != 0) {
        j.encoded = {j.out.get(), n};
        j.deflated = true;
        return;
      }
    }
    j.encoded = j.in.make_stored();
  }

  gzip_options opts_;
  std::vector<std::unique_ptr<block_job>> jobs_;

  // Reading side, guarded by read_m_ once workers run.
  std::mutex read_m_;
  reader& in_;
  std::unique_ptr<std::byte[]> tail_;  // the last 32 KiB read: history of the next block
  std::size_t tail_len_ = 0;
  std::uint64_t next_seq_ = 0;
  bool input_done_ = false;

  // Hand-over between workers and the writing thread, guarded by m_.
  std::mutex m_;
  std::condition_variable free_cv_;  // a block buffer was freed, or stop_
  std::condition_variable done_cv_;  // a block is done, or total_ is known
  std::vector<block_job*> free_;
  std::vector<block_job*> slots_;     // the finished or running job of block seq at seq % size
  std::uint64_t total_ = UINT64_MAX;  // number of blocks, once the end of input was read
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hone::backup::detail::gzip_impl
