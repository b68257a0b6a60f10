// age_compressor: the Compressor of the compact format, NAME.db.gz.age: the inner Compressor's
// stream (gzip) encrypted as an age v1 file. It reads both its own files and the inner
// Compressor's (NAME.db.gz), so one folder may hold both formats as one series.
#pragma once

#include <hone/backup/age.hpp>
#include <hone/backup/compressors/gzip_compressor.hpp>
#include <hone/backup/concepts.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>
#include <hone/backup/types.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::backup {

/// Settings of age_compressor.
struct age_compressor_options {
  /// Who can read what compress() writes: one scrypt_recipient (a passphrase; the age format
  /// allows no other recipient beside it) or any number of x25519_recipient. Required when
  /// `seal` is true.
  std::vector<age::recipient> recipients;
  /// What decompress() tries on a sealed file, in order (a passphrase, identity files' keys).
  std::vector<age::identity> identities;
  /// true: compress() writes the compact format (suffix ".db.gz.age"); false: the inner
  /// Compressor's own format, unsealed (".db.gz"). Reading handles both either way.
  bool seal = true;
};

/// Compressor that seals the inner Compressor's stream in an age v1 file (encrypting = true).
/// Since a sealed stream may hold plaintext, BackupRunner routes what decompress() gives of a
/// sealed file (sealed() true for its first bytes) to the Exporter's load_pages, never to a file.
template <class Inner = gzip_compressor>
class age_compressor {
 public:
  using options = age_compressor_options;

  /// Marks compress() as encrypting what it writes (see docs/Compressor.md).
  static constexpr bool encrypting = true;
  /// How many leading bytes of a stored file sealed() needs.
  static constexpr std::size_t sealed_head_bytes = 32;

  explicit age_compressor(options opts = {}, Inner inner = Inner{})
      : opts_(std::move(opts)), inner_(std::move(inner)), suffix_(std::string(inner_.suffix()) + ".age") {}

  const options& settings() const noexcept { return opts_; }
  options& settings() noexcept { return opts_; }
  const Inner& inner() const noexcept { return inner_; }

  /// Whether compress() seals (the compact format) or writes the inner format.
  bool sealing() const noexcept { return opts_.seal; }

  compress_result compress(reader& in, writer& out, const progress_fn& progress) const {
    if (!opts_.seal) return inner_.compress(in, out, progress);
    if (opts_.recipients.empty())
      throw invalid_argument_error("The compact format needs a passphrase or an age recipient to encrypt to");
    counting_writer counted(out);
    age::encrypting_writer sealed(counted, opts_.recipients);
    compress_result r = inner_.compress(in, sealed, progress);
    sealed.finish();
    r.bytes_out = counted.bytes;
    return r;
  }

  /// Opens a sealed file with the identities (age's header MAC and every chunk's tag checked;
  /// nothing may follow the inner stream), or decompresses an unsealed one as Inner does.
  std::uint64_t decompress(reader& in, writer& out, const progress_fn& progress) const {
    lookahead_reader<sealed_head_bytes> head(in);
    if (!sealed(head.head())) return inner_.decompress(head, out, progress);
    age::decrypting_reader opened(head, opts_.identities);
    const std::uint64_t n = inner_.decompress(opened, out, progress);
    std::array<std::byte, 1> extra{};
    if (read_full(opened, extra) != 0)
      throw corrupt_backup_error("The backup holds data after the end of its compressed stream");
    return n;
  }

  /// An unsealed file as Inner peeks it; a sealed one is not opened (that needs the key and
  /// scrypt's work): it is reported sealed, compressed, with no bytes.
  peek_result peek(reader& in, std::span<std::byte> buf) const {
    lookahead_reader<sealed_head_bytes> head(in);
    if (!sealed(head.head())) return inner_.peek(head, buf);
    peek_result r;
    r.compressed = true;
    r.sealed = true;
    return r;
  }

  /// True when a stored file's first bytes are an age file's.
  bool sealed(std::span<const std::byte> head) const { return age::looks_like_age(head); }

  std::string_view suffix() const noexcept { return opts_.seal ? std::string_view(suffix_) : inner_.suffix(); }

  /// Every suffix of a file this Compressor reads: its own and Inner's.
  std::vector<std::string_view> suffixes() const { return {std::string_view(suffix_), inner_.suffix()}; }

 private:
  struct counting_writer final : writer {
    explicit counting_writer(writer& o) : out(o) {}
    void write(std::span<const std::byte> data) override {
      out.write(data);
      bytes += data.size();
    }
    writer& out;
    std::uint64_t bytes = 0;
  };

  options opts_;
  Inner inner_;
  std::string suffix_;
};

static_assert(Compressor<age_compressor<>>);

}  // namespace hone::backup
