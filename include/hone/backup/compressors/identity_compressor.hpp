// identity_compressor: stores the bytes unchanged (a plain .db file).
#pragma once

#include <hone/backup/concepts.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace hone::backup {

/// Compressor that stores the bytes unchanged: for callers that want a plain .db file, or
/// whose storage compresses already.
class identity_compressor {
 public:
  compress_result compress(reader& in, writer& out, const progress_fn& progress) const {
    std::uint64_t n = copy(in, out, progress);
    return {n, n, false};
  }

  std::uint64_t decompress(reader& in, writer& out, const progress_fn& progress) const {
    return copy(in, out, progress);
  }

  peek_result peek(reader& in, std::span<std::byte> buf) const { return {read_full(in, buf), false}; }

  std::string_view suffix() const noexcept { return ".db"; }

 private:
  static std::uint64_t copy(reader& in, writer& out, const progress_fn& progress) {
    constexpr std::size_t size = 1024 * 1024;
    auto buf = std::make_unique_for_overwrite<std::byte[]>(size);
    std::uint64_t total = 0;
    for (;;) {
      std::size_t n = in.read({buf.get(), size});
      if (n == 0) break;
      out.write({buf.get(), n});
      total += n;
      if (progress) progress(total);
    }
    if (progress && total == 0) progress(0);
    return total;
  }
};

static_assert(Compressor<identity_compressor>);

}  // namespace hone::backup
