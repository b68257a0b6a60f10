// age v1 encryption (the C2SP "age" specification) as a writer and a reader: a passphrase
// (scrypt) or X25519 recipients, ChaCha20-Poly1305 STREAM in 64 KiB chunks. Files it writes
// open with the age tool, and it reads what the age tool writes. One chunk is held in memory.
#pragma once

#include <hone/backup/detail/age_crypto.hpp>
#include <hone/backup/detail/age_header.hpp>
#include <hone/backup/detail/age_text.hpp>
#include <hone/backup/error.hpp>
#include <hone/backup/io.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hone::backup::age {

/// Encrypts to a passphrase: the "scrypt" stanza, which must be a file's only recipient.
/// scrypt needs 2^log2_work KiB of memory (15: 32 MiB; the age tool's default, 18: 256 MiB).
struct scrypt_recipient {
  std::string passphrase;
  int log2_work = 15;
};
/// Encrypts to the holder of an X25519 identity, given its public key "age1...".
struct x25519_recipient {
  std::string public_key;
};
using recipient = std::variant<scrypt_recipient, x25519_recipient>;

/// Opens files encrypted to a passphrase; refuses work factors above max_log2_work (memory).
struct passphrase_identity {
  std::string passphrase;
  int max_log2_work = 22;
};
/// Opens files encrypted to the X25519 recipient of this secret key "AGE-SECRET-KEY-1...".
struct x25519_identity {
  std::string secret_key;
};
using identity = std::variant<passphrase_identity, x25519_identity>;

/// Plaintext bytes per STREAM chunk.
inline constexpr std::size_t chunk_size = 64 * 1024;

/// True when head starts with the version line of an age v1 file.
inline bool looks_like_age(std::span<const std::byte> head) {
  const auto v = detail::age::version_line;
  return head.size() >= v.size() && std::memcmp(head.data(), v.data(), v.size()) == 0;
}

namespace detail_age {
using namespace hone::backup::detail::age;

inline constexpr std::string_view secret_key_hrp = "age-secret-key-";
inline constexpr std::string_view public_key_hrp = "age";

/// The 32-byte X25519 secret of an identity; throws invalid_argument_error (without the key).
inline key32 secret_of(const x25519_identity& id) {
  auto v = bech32_decode(id.secret_key);
  const bool ok = v && v->hrp == secret_key_hrp && v->data.size() == 32;
  key32 out;
  if (ok) std::memcpy(out.data(), v->data.data(), 32);
  if (v) OPENSSL_cleanse(v->data.data(), v->data.size());
  if (!ok) throw invalid_argument_error("age: an X25519 identity is not a valid AGE-SECRET-KEY-1... key");
  return out;
}

/// The 32-byte X25519 public key of a recipient "age1..."; throws invalid_argument_error.
inline std::array<unsigned char, 32> public_of(const x25519_recipient& r) {
  const auto v = bech32_decode(r.public_key);
  if (!v || v->hrp != public_key_hrp || v->data.size() != 32)
    throw invalid_argument_error("age: an X25519 recipient is not a valid age1... public key");
  std::array<unsigned char, 32> out{};
  std::memcpy(out.data(), v->data.data(), 32);
  return out;
}

inline std::span<const unsigned char> bytes_of(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

inline constexpr std::string_view x25519_info = "age-encryption.org/v1/X25519";
inline constexpr std::string_view scrypt_label = "age-encryption.org/v1/scrypt";

/// HKDF salt of an X25519 stanza: ephemeral share || recipient.
inline std::array<unsigned char, 64> x25519_salt(std::span<const unsigned char, 32> share,
                                                 std::span<const unsigned char, 32> recipient_key) {
  std::array<unsigned char, 64> salt{};
  std::memcpy(salt.data(), share.data(), 32);
  std::memcpy(salt.data() + 32, recipient_key.data(), 32);
  return salt;
}

/// scrypt's salt: the label followed by the stanza's 16 random bytes.
inline std::vector<unsigned char> scrypt_salt(std::span<const unsigned char> salt) {
  std::vector<unsigned char> s(scrypt_label.begin(), scrypt_label.end());
  s.insert(s.end(), salt.begin(), salt.end());
  return s;
}

inline std::string stanza_for(const scrypt_recipient& r, const file_key& key) {
  if (r.passphrase.empty()) throw invalid_argument_error("age: the passphrase is empty");
  if (r.log2_work < 1 || r.log2_work > 30)
    throw invalid_argument_error("age: the scrypt work factor must be between 2^1 and 2^30");
  std::array<unsigned char, 16> salt{};
  random_public(salt);
  const auto wrap_key = scrypt(r.passphrase, scrypt_salt(salt), r.log2_work);
  const std::string args[] = {"scrypt", base64_encode(salt), std::to_string(r.log2_work)};
  return format_stanza(args, wrap_file_key(wrap_key, key));
}

inline std::string stanza_for(const x25519_recipient& r, const file_key& key) {
  const auto recipient_key = public_of(r);
  key32 ephemeral, shared;
  random_secret(ephemeral.span());
  const auto share = x25519_public(ephemeral.span());
  if (!x25519_shared(ephemeral.span(), recipient_key, shared))
    throw invalid_argument_error("age: an X25519 recipient is a low-order point");
  const auto wrap_key = hkdf_sha256(shared.span(), x25519_salt(share, recipient_key), x25519_info);
  const std::string args[] = {"X25519", base64_encode(share)};
  return format_stanza(args, wrap_file_key(wrap_key, key));
}

/// The whole header for these recipients, MAC line included.
inline std::string make_header(std::span<const recipient> to, const file_key& key) {
  if (to.empty()) throw invalid_argument_error("age: no recipient to encrypt to");
  for (const auto& r : to)
    if (std::holds_alternative<scrypt_recipient>(r) && to.size() != 1)
      throw invalid_argument_error("age: a passphrase (scrypt) recipient must be a file's only recipient");
  std::string header(version_line);
  for (const auto& r : to) header += std::visit([&](const auto& x) { return stanza_for(x, key); }, r);
  header += "---";
  const auto mac_key = hkdf_sha256(key.span(), {}, "header");
  const auto mac = hmac_sha256(mac_key.span(), bytes_of(header));
  header += ' ' + base64_encode(mac) + '\n';
  return header;
}

/// The work factor of a scrypt stanza, after checking its shape; throws corrupt_backup_error.
inline int checked_scrypt_stanza(const stanza& s) {
  if (s.args.size() != 3) bad_header("the scrypt stanza must have 2 arguments");
  const auto salt = base64_decode(s.args[1]);
  if (!salt || salt->size() != 16) bad_header("the scrypt salt is not 16 bytes of canonical base64");
  const std::string& w = s.args[2];
  bool digits = !w.empty() && w.size() <= 2 && w[0] != '0';
  for (char c : w) digits = digits && c >= '0' && c <= '9';
  if (!digits) bad_header("the scrypt work factor is not a decimal number from 1 to 99");
  if (s.body.size() != 32) bad_header("the scrypt stanza's body is not 32 bytes");
  return std::stoi(w);
}

/// The ephemeral share of an X25519 stanza, after checking its shape.
inline std::array<unsigned char, 32> checked_x25519_stanza(const stanza& s) {
  if (s.args.size() != 2) bad_header("the X25519 stanza must have 1 argument");
  const auto share = base64_decode(s.args[1]);
  if (!share || share->size() != 32) bad_header("the X25519 share is not 32 bytes of canonical base64");
  if (s.body.size() != 32) bad_header("the X25519 stanza's body is not 32 bytes");
  std::array<unsigned char, 32> out{};
  std::memcpy(out.data(), share->data(), 32);
  return out;
}

/// "8 GiB" or "32 MiB": the memory scrypt needs for a work factor.
inline std::string scrypt_memory(int log2_work) {
  return log2_work >= 20 ? std::to_string(std::uint64_t{1} << (log2_work - 20)) + " GiB"
                         : std::to_string(std::uint64_t{1} << std::max(log2_work - 10, 0)) + " MiB";
}

inline bool try_unwrap(const passphrase_identity& id, const stanza& s, file_key& key, int& log2_work) {
  if (s.args[0] != "scrypt") return false;
  const int w = checked_scrypt_stanza(s);
  if (w > id.max_log2_work)
    throw corrupt_backup_error("age: the scrypt work factor 2^" + std::to_string(w) + " (" + scrypt_memory(w) +
                               " of memory) is above the limit 2^" + std::to_string(id.max_log2_work) + "; refused");
  const auto wrap_key = scrypt(id.passphrase, scrypt_salt(*base64_decode(s.args[1])), w);
  if (!unwrap_file_key(wrap_key, s.body, key)) return false;
  log2_work = w;
  return true;
}

inline bool try_unwrap(const x25519_identity& id, const stanza& s, file_key& key, int& log2_work) {
  if (s.args[0] != "X25519") return false;
  const auto share = checked_x25519_stanza(s);
  const auto secret_key = secret_of(id);
  const auto own = x25519_public(secret_key.span());
  key32 shared;
  if (!x25519_shared(secret_key.span(), share, shared)) bad_header("the X25519 share is a low-order point");
  if (!unwrap_file_key(hkdf_sha256(shared.span(), x25519_salt(share, own), x25519_info), s.body, key)) return false;
  log2_work = 0;
  return true;
}

/// The file key, unwrapped by the first identity that opens a stanza meant for its kind.
/// Malformed stanzas of the kinds it knows are damage; stanzas of other kinds are ignored.
inline file_key unwrap(const parsed_header& h, std::span<const identity> with, int& log2_work) {
  bool passphrase_tried = false;
  for (const auto& id : with)
    if (const auto* x = std::get_if<x25519_identity>(&id)) secret_of(*x);  // a malformed key is refused now
  for (const auto& s : h.stanzas) {
    if (s.args[0] == "scrypt" && h.stanzas.size() != 1) bad_header("a scrypt stanza must be the only stanza");
    if (s.args[0] == "scrypt") checked_scrypt_stanza(s);
    if (s.args[0] == "X25519") checked_x25519_stanza(s);
  }
  file_key key;
  for (const auto& id : with)
    for (const auto& s : h.stanzas) {
      passphrase_tried |= std::holds_alternative<passphrase_identity>(id) && s.args[0] == "scrypt";
      if (std::visit([&](const auto& i) { return try_unwrap(i, s, key, log2_work); }, id)) return key;
    }
  throw encryption_error(std::string(wrong_key_message) +
                         (passphrase_tried ? " (wrong key: the passphrase does not open the age file)"
                                           : " (wrong key: no identity given matches a recipient of the age file)"));
}

/// Checks the header MAC with the file key.
inline void check_mac(std::string_view text, const parsed_header& h, const file_key& key) {
  const auto mac_key = hkdf_sha256(key.span(), {}, "header");
  const auto mac = hmac_sha256(mac_key.span(), bytes_of(text.substr(0, h.mac_input_size)));
  if (CRYPTO_memcmp(mac.data(), h.mac.data(), mac.size()) != 0)
    throw corrupt_backup_error("age header MAC does not match");
}

/// The 12-byte STREAM nonce of a chunk: 11-byte big-endian counter, then the last-chunk flag.
inline std::array<unsigned char, 12> chunk_nonce(std::uint64_t counter, bool last) {
  std::array<unsigned char, 12> n{};
  for (int i = 0; i < 8; ++i) n[10 - i] = static_cast<unsigned char>(counter >> (8 * i));
  n[11] = last ? 1 : 0;
  return n;
}

}  // namespace detail_age

/// Writes an age v1 file to `out`: the header at construction, then the payload in 64 KiB
/// chunks. finish() writes the last chunk; without it the file is incomplete (and readers
/// refuse it as truncated). Does not finish `out`.
class encrypting_writer final : public writer {
 public:
  encrypting_writer(writer& out, std::span<const recipient> to) : out_(out), buf_(chunk_size + tag_size) {
    detail_age::file_key key;
    detail_age::random_secret(key.span());
    const std::string header = detail_age::make_header(to, key);
    std::array<unsigned char, 16> nonce{};
    detail_age::random_public(nonce);
    const auto payload_key = detail_age::hkdf_sha256(key.span(), nonce, "payload");
    aead_.emplace(payload_key.span(), true);
    out_.write(std::as_bytes(std::span(header)));
    out_.write(std::as_bytes(std::span(nonce)));
  }
  encrypting_writer(const encrypting_writer&) = delete;
  encrypting_writer& operator=(const encrypting_writer&) = delete;
  ~encrypting_writer() override { OPENSSL_cleanse(buf_.data(), buf_.size()); }

  void write(std::span<const std::byte> data) override {
    if (finished_) throw invalid_argument_error("age: write() after finish()");
    while (!data.empty()) {
      if (fill_ == chunk_size) seal(false);  // only now is it known not to be the last chunk
      const std::size_t n = std::min(chunk_size - fill_, data.size());
      std::memcpy(buf_.data() + fill_, data.data(), n);
      fill_ += n;
      data = data.subspan(n);
    }
  }

  /// Writes the last chunk (possibly full; empty only when nothing was written).
  void finish() {
    if (finished_) throw invalid_argument_error("age: finish() called twice");
    seal(true);
    finished_ = true;
  }

 private:
  static constexpr std::size_t tag_size = detail_age::chacha20_poly1305::tag_size;

  void seal(bool last) {
    aead_->seal(detail_age::chunk_nonce(counter_++, last), std::span(buf_).first(fill_), buf_.data() + fill_);
    out_.write(std::as_bytes(std::span(buf_).first(fill_ + tag_size)));
    fill_ = 0;
  }

  writer& out_;
  std::vector<unsigned char> buf_;
  std::size_t fill_ = 0;
  std::uint64_t counter_ = 0;
  bool finished_ = false;
  std::optional<detail_age::chacha20_poly1305> aead_;
};

/// Reads an age v1 file from `in`: the constructor reads the header and unwraps the file key
/// with the first identity that opens it (encryption_error "wrong key" when none does,
/// corrupt_backup_error for a damaged header), then read() returns the plaintext chunk by
/// chunk, each verified before any of it is returned. read() returns 0 only after the last
/// chunk was verified and nothing follows it; truncation, a damaged chunk or trailing bytes
/// throw corrupt_backup_error naming the reason. As in the age tool, a chunk that
/// authenticates is returned even when what follows it is wrong (missing last chunk, data
/// after the last chunk): the error comes with the next read. All output stays provisional
/// until read() returns 0.
class decrypting_reader final : public reader {
 public:
  decrypting_reader(reader& in, std::span<const identity> with) : in_(in), buf_(full_chunk + 1) {
    detail::age::header_input header(in);
    const std::string text = header.read();
    const auto h = detail::age::parse_header(text);
    const auto key = detail_age::unwrap(h, with, log2_work_);
    detail_age::check_mac(text, h, key);
    std::array<unsigned char, 16> nonce{};
    const std::string& rest = header.rest();
    const std::size_t from_rest = std::min(rest.size(), nonce.size());
    std::memcpy(nonce.data(), rest.data(), from_rest);
    if (from_rest < nonce.size() &&
        read_full(in_, std::as_writable_bytes(std::span(nonce)).subspan(from_rest)) != nonce.size() - from_rest)
      detail::age::bad_header("the file ends before the 16-byte payload nonce that follows the header");
    have_ = rest.size() - from_rest;
    std::memcpy(buf_.data(), rest.data() + from_rest, have_);
    const auto payload_key = detail_age::hkdf_sha256(key.span(), nonce, "payload");
    aead_.emplace(payload_key.span(), false);
  }
  decrypting_reader(const decrypting_reader&) = delete;
  decrypting_reader& operator=(const decrypting_reader&) = delete;
  ~decrypting_reader() override { OPENSSL_cleanse(buf_.data(), buf_.size()); }

  std::size_t read(std::span<std::byte> out) override {
    while (pos_ == end_) {
      if (!deferred_.empty()) throw corrupt_backup_error(deferred_);
      if (done_ || out.empty()) return 0;
      next_chunk();
    }
    const std::size_t n = std::min(out.size(), end_ - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }

  /// The scrypt work factor (log2) of the stanza that opened the file; 0 for X25519.
  int log2_work() const noexcept { return log2_work_; }

 private:
  static constexpr std::size_t tag_size = detail_age::chacha20_poly1305::tag_size;
  static constexpr std::size_t full_chunk = chunk_size + tag_size;

  [[noreturn]] void fail(const std::string& why) const {
    throw corrupt_backup_error("age chunk " + std::to_string(counter_) + ": " + why);
  }

  /// Opens buf_[0, n) as chunk counter_ with the given last-chunk flag. On failure buf_ is
  /// put back as it was (the keystream applied twice cancels), so the other flag can be tried.
  bool open(std::size_t n, bool last) {
    const auto nonce = detail_age::chunk_nonce(counter_, last);
    const auto data = std::span(buf_).first(n - tag_size);
    if (aead_->open(nonce, data, buf_.data() + data.size())) return true;
    aead_->open(nonce, data, buf_.data() + data.size());
    return false;
  }

  /// Reads and verifies the next chunk into buf_[0, end_). A full chunk is the last one when
  /// nothing follows it: one byte more is read, and carried to the next chunk.
  void next_chunk() {
    if (carry_) buf_[0] = buf_[full_chunk];
    const std::size_t from = carry_ ? 1 : have_;
    const std::size_t n = from + read_full(in_, std::as_writable_bytes(std::span(buf_)).subspan(from));
    carry_ = false;
    have_ = 0;
    if (n == 0) throw corrupt_backup_error("age file ends before its last chunk");
    if (n < tag_size) fail("shorter than its 16-byte tag (the file is truncated)");
    if (n == tag_size && counter_ > 0) fail("the last chunk is empty");
    if (n > full_chunk) {
      carry_ = true;
      if (!open(full_chunk, false)) {
        if (!open(full_chunk, true)) fail("authentication failed");
        deferred_ = "age file has data after its last chunk";
      }
    } else if (open(n, true)) {
      done_ = true;
    } else {
      if (n != full_chunk || !open(n, false)) fail("authentication failed");
      deferred_ = "age file ends before its last chunk";
    }
    pos_ = 0;
    end_ = std::min(n, full_chunk) - tag_size;
    ++counter_;
  }

  reader& in_;
  std::vector<unsigned char> buf_;
  std::size_t have_ = 0;  ///< payload bytes read with the header, at buf_[0, have_)
  std::size_t pos_ = 0, end_ = 0;
  std::uint64_t counter_ = 0;
  bool done_ = false;
  bool carry_ = false;
  std::string deferred_;  ///< what is wrong after the chunk in buf_, which authenticated
  int log2_work_ = 0;
  std::optional<detail_age::chacha20_poly1305> aead_;
};

}  // namespace hone::backup::age

namespace hone::backup::age {

/// The recipient "age1..." of an X25519 identity.
inline std::string x25519_public_key(const x25519_identity& id) {
  const auto secret_key = detail_age::secret_of(id);
  return detail_age::bech32_encode(detail_age::public_key_hrp, detail_age::x25519_public(secret_key.span()));
}

/// A new X25519 identity "AGE-SECRET-KEY-1..." from the CSPRNG.
inline x25519_identity generate_x25519_identity() {
  detail_age::key32 secret_key;
  detail_age::random_secret(secret_key.span());
  x25519_identity id{detail_age::bech32_encode(detail_age::secret_key_hrp, secret_key.span())};
  for (char& c : id.secret_key)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return id;
}

}  // namespace hone::backup::age
