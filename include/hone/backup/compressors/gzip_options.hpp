// Settings of gzip_compressor: the deflate engine and gzip_options (also reachable as
// gzip_compressor::options).
#pragma once

#include <cstddef>

namespace hone::backup {

/// The deflate implementation gzip_compressor compresses blocks with (gzip_options::engine).
/// Both write the same format, one gzip member that any gunzip reads, and take the same levels.
enum class deflate_engine {
  /// libdeflate: nearly twice as fast as zlib at the same level, and on database pages within
  /// a fraction of a percent of its size (a few percent larger on some text at level 6).
  /// Each block is compressed on its own: no match reaches into the block before.
  libdeflate,
  /// zlib: each block is primed with the previous 32 KiB, so matches cross block boundaries.
  zlib,
};

/// Settings of gzip_compressor (also reachable as gzip_compressor::options). Declared outside
/// the class because a nested struct's member initializers are unusable in the enclosing
/// class's default arguments.
struct gzip_options {
  int level = 6;                                       ///< deflate level 0-9 (0 = store only; <0 = 6), either engine
  unsigned threads = 0;                                ///< compression threads; 0 = hardware_concurrency
  std::size_t block_size = 1024 * 1024;                ///< input per parallel block, clamped to 64 KiB-64 MiB
  bool detect_incompressible = true;                   ///< store blocks that look like ciphertext
  deflate_engine engine = deflate_engine::libdeflate;  ///< who deflates the blocks; see deflate_engine
};

}  // namespace hone::backup
