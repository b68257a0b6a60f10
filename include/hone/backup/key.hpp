// Database keys: a passphrase, raw key bytes, or the original Hone's Argon2id-derived key.
// Key material is wiped on destruction, never printed, and reaches SQLCipher only through
// sqlite3_key() or a bound parameter.
#pragma once

#include <hone/backup/error.hpp>

#include <argon2.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hone::backup {

namespace detail {
inline void secure_wipe(void* p, std::size_t n) noexcept {
  volatile unsigned char* v = static_cast<volatile unsigned char*>(p);
  while (n--) *v++ = 0;
}
inline constexpr char hex_digits[] = "0123456789abcdef";
}  // namespace detail

/// Parameters of the original Hone's key derivation (Argon2id v0x13).
struct hone_kdf_params {
  std::uint32_t memory_kib = 19456;
  std::uint32_t passes = 2;
  std::uint32_t parallelism = 1;
  std::string_view salt = "hone-salt-v1-fix";
};

/// The key of a database. Empty means "not encrypted".
class database_key {
 public:
  database_key() = default;
  database_key(const database_key& o) : secret_(o.secret_) {}
  database_key(database_key&& o) noexcept : secret_(std::move(o.secret_)) { o.wipe(); }
  database_key& operator=(const database_key& o) {
    if (this != &o) {
      wipe();
      secret_ = o.secret_;
    }
    return *this;
  }
  database_key& operator=(database_key&& o) noexcept {
    if (this != &o) {
      wipe();
      secret_ = std::move(o.secret_);
      o.wipe();
    }
    return *this;
  }
  ~database_key() { wipe(); }

  /// No key: the database is plain SQLite.
  static database_key none() { return {}; }

  /// A passphrase; SQLCipher derives the page key with its own PBKDF2.
  static database_key passphrase(std::string_view text) { return database_key(text); }

  /// Raw key bytes (32), given to SQLCipher in its raw-key form so no PBKDF2 runs.
  static database_key raw(std::span<const std::byte> bytes) {
    if (bytes.size() != 32 && bytes.size() != 48)
      throw invalid_argument_error("A raw SQLCipher key must be 32 bytes (or 48 with salt)");
    std::string s;
    s.reserve(3 + bytes.size() * 2);
    s += "x'";
    append_hex(s, bytes);
    s += '\'';
    database_key k(s);
    detail::secure_wipe(s.data(), s.size());
    return k;
  }

  /// The key the original Hone uses for HONE_DB_KEY: Argon2id(passphrase, "hone-salt-v1-fix",
  /// t=2, m=19456 KiB, p=1, 32 bytes), hex-encoded, then the *passphrase* string x"<hex>".
  static database_key hone(std::string_view passphrase, const hone_kdf_params& params = {}) {
    auto derived = hone_derive(passphrase, params);
    std::string s;
    s.reserve(67);
    s += "x\"";
    append_hex(s, derived);
    s += '"';
    detail::secure_wipe(derived.data(), derived.size());
    database_key k(s);
    detail::secure_wipe(s.data(), s.size());
    return k;
  }

  /// The raw Argon2id output of the original's derivation (exposed for known-answer tests).
  static std::array<std::byte, 32> hone_derive(std::string_view passphrase, const hone_kdf_params& params = {}) {
    std::array<std::byte, 32> out{};
    int rc = argon2id_hash_raw(params.passes, params.memory_kib, params.parallelism, passphrase.data(),
                               passphrase.size(), params.salt.data(), params.salt.size(), out.data(), out.size());
    if (rc != ARGON2_OK)
      throw invalid_argument_error(std::string("Key derivation failed: ") + argon2_error_message(rc));
    return out;
  }

  bool empty() const noexcept { return secret_.empty(); }
  explicit operator bool() const noexcept { return !empty(); }

  /// The exact bytes to hand to sqlite3_key() or bind to ATTACH ... KEY ?. Do not log them.
  std::string_view expose_secret() const noexcept { return {secret_.data(), secret_.size()}; }

  friend bool operator==(const database_key& a, const database_key& b) noexcept { return a.secret_ == b.secret_; }

  /// Never prints the key.
  friend std::ostream& operator<<(std::ostream& os, const database_key& k) {
    return os << (k.empty() ? "<no key>" : "<key redacted>");
  }

 private:
  explicit database_key(std::string_view s) : secret_(s.begin(), s.end()) {}
  void wipe() noexcept {
    if (!secret_.empty()) detail::secure_wipe(secret_.data(), secret_.size());
    secret_.clear();
  }
  static void append_hex(std::string& s, std::span<const std::byte> bytes) {
    for (auto b : bytes) {
      auto v = static_cast<unsigned>(b);
      s += detail::hex_digits[v >> 4];
      s += detail::hex_digits[v & 15];
    }
  }

  std::vector<char> secret_;
};

}  // namespace hone::backup
