// Database keys: a passphrase or raw key bytes (hone_key.hpp adds the Hone program's Argon2id key).
// Key material is wiped on destruction, never printed, and reaches SQLCipher only through
// sqlite3_key() or a bound parameter.
#pragma once

#include <hone/backup/error.hpp>

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
