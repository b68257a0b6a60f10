// The primitives of the age format, from OpenSSL 3's libcrypto: HKDF-SHA-256, HMAC-SHA-256,
// scrypt, X25519 and ChaCha20-Poly1305. Secrets live in wiped arrays (secret<N>).
#pragma once

#include <hone/backup/error.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace hone::backup::detail::age {

[[noreturn]] inline void crypto_failed(std::string_view what) {
  throw encryption_error("age: OpenSSL's " + std::string(what) + " failed");
}

/// N bytes of key material, wiped when it goes.
template <std::size_t N>
struct secret {
  std::array<unsigned char, N> bytes{};
  secret() = default;
  secret(const secret&) = default;
  secret& operator=(const secret&) = default;
  ~secret() { OPENSSL_cleanse(bytes.data(), N); }
  unsigned char* data() noexcept { return bytes.data(); }
  const unsigned char* data() const noexcept { return bytes.data(); }
  static constexpr std::size_t size() noexcept { return N; }
  std::span<unsigned char, N> span() noexcept { return bytes; }
  std::span<const unsigned char, N> span() const noexcept { return bytes; }
};

using file_key = secret<16>;
using key32 = secret<32>;

/// Fills out from the CSPRNG (RAND_priv_bytes: the output is a secret).
inline void random_secret(std::span<unsigned char> out) {
  if (RAND_priv_bytes(out.data(), static_cast<int>(out.size())) != 1) crypto_failed("random generator");
}
/// Fills out from the CSPRNG (salts, nonces).
inline void random_public(std::span<unsigned char> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) crypto_failed("random generator");
}

/// HKDF-SHA-256 (extract then expand) to 32 bytes.
inline key32 hkdf_sha256(std::span<const unsigned char> ikm, std::span<const unsigned char> salt,
                         std::string_view info) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr), EVP_KDF_free);
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr,
                                                                EVP_KDF_CTX_free);
  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 5> params{};
  std::size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] =
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(ikm.data()), ikm.size());
  if (!salt.empty())
    params[i++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt.data()), salt.size());
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  params[i] = OSSL_PARAM_construct_end();
  key32 out;
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) crypto_failed("HKDF");
  return out;
}

/// HMAC-SHA-256 of data.
inline std::array<unsigned char, 32> hmac_sha256(std::span<const unsigned char, 32> key,
                                                 std::span<const unsigned char> data) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len) ||
      len != out.size())
    crypto_failed("HMAC");
  return out;
}

/// scrypt(N = 2^log2_n, r = 8, p = 1, dkLen = 32). Needs 128 * r * N bytes (2^15: 32 MiB).
inline key32 scrypt(std::string_view passphrase, std::span<const unsigned char> salt, int log2_n) {
  const std::uint64_t n = std::uint64_t{1} << log2_n;
  const std::uint64_t maxmem = 128 * 8 * (n + 2) + (1u << 20);
  key32 out;
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), n, 8, 1, maxmem, out.data(),
                     out.size()) != 1)
    crypto_failed("scrypt");
  return out;
}

/// The X25519 public key (share) of a 32-byte secret.
inline std::array<unsigned char, 32> x25519_public(std::span<const unsigned char, 32> secret_key) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret_key.data(), secret_key.size()), EVP_PKEY_free);
  std::array<unsigned char, 32> out{};
  std::size_t len = out.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), out.data(), &len) != 1 || len != out.size())
    crypto_failed("X25519");
  return out;
}

/// X25519(secret, peer). False when the result is all zeros (a low-order peer share), which
/// OpenSSL reports as a failure of the derivation.
inline bool x25519_shared(std::span<const unsigned char, 32> secret_key, std::span<const unsigned char, 32> peer,
                          key32& out) {
  using pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  pkey mine(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret_key.data(), secret_key.size()),
            EVP_PKEY_free);
  pkey theirs(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()), EVP_PKEY_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      mine ? EVP_PKEY_CTX_new(mine.get(), nullptr) : nullptr, EVP_PKEY_CTX_free);
  if (!ctx || !theirs || EVP_PKEY_derive_init(ctx.get()) != 1) crypto_failed("X25519");
  std::size_t len = out.size();
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), theirs.get(), 0) != 1 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != out.size())
    return false;
  unsigned char any = 0;
  for (unsigned char b : out.bytes) any |= b;
  return any != 0;
}

/// ChaCha20-Poly1305 under one key, one direction; each seal/open takes its own 12-byte nonce.
class chacha20_poly1305 {
 public:
  static constexpr std::size_t tag_size = 16;
  static constexpr std::size_t nonce_size = 12;

  chacha20_poly1305(std::span<const unsigned char, 32> key, bool encrypt)
      : ctx_(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free) {
    if (!ctx_ ||
        EVP_CipherInit_ex2(ctx_.get(), EVP_chacha20_poly1305(), key.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1)
      crypto_failed("ChaCha20-Poly1305");
  }

  /// Encrypts data in place and writes the tag to data.data() + data.size() (room for it needed).
  void seal(std::span<const unsigned char, nonce_size> nonce, std::span<unsigned char> data, unsigned char* tag) {
    int len = 0, fin = 0;
    if (EVP_CipherInit_ex2(ctx_.get(), nullptr, nullptr, nonce.data(), -1, nullptr) != 1 ||
        EVP_CipherUpdate(ctx_.get(), data.data(), &len, data.data(), static_cast<int>(data.size())) != 1 ||
        EVP_CipherFinal_ex(ctx_.get(), data.data() + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_GET_TAG, tag_size, tag) != 1)
      crypto_failed("ChaCha20-Poly1305");
  }

  /// Decrypts data in place, checking tag; false (data then holds garbage) when it does not match.
  bool open(std::span<const unsigned char, nonce_size> nonce, std::span<unsigned char> data, const unsigned char* tag) {
    int len = 0, fin = 0;
    if (EVP_CipherInit_ex2(ctx_.get(), nullptr, nullptr, nonce.data(), -1, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, tag_size, const_cast<unsigned char*>(tag)) != 1 ||
        EVP_CipherUpdate(ctx_.get(), data.data(), &len, data.data(), static_cast<int>(data.size())) != 1)
      crypto_failed("ChaCha20-Poly1305");
    return EVP_CipherFinal_ex(ctx_.get(), data.data() + len, &fin) == 1;
  }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx_;
};

/// The stanza body: the file key sealed under a wrap key with the all-zero nonce (32 bytes).
inline std::array<unsigned char, 32> wrap_file_key(const key32& wrap_key, const file_key& key) {
  std::array<unsigned char, 32> body{};
  std::copy(key.bytes.begin(), key.bytes.end(), body.begin());
  chacha20_poly1305 aead(wrap_key.span(), true);
  aead.seal(std::array<unsigned char, 12>{}, std::span(body).first(16), body.data() + 16);
  return body;
}

/// Opens a 32-byte stanza body; false when the wrap key is not the one it was sealed with.
inline bool unwrap_file_key(const key32& wrap_key, std::span<const unsigned char> body, file_key& out) {
  secret<32> copy;
  std::copy(body.begin(), body.end(), copy.bytes.begin());
  chacha20_poly1305 aead(wrap_key.span(), false);
  if (!aead.open(std::array<unsigned char, 12>{}, copy.span().first(16), copy.data() + 16)) return false;
  std::copy(copy.bytes.begin(), copy.bytes.begin() + 16, out.bytes.begin());
  return true;
}

}  // namespace hone::backup::detail::age
