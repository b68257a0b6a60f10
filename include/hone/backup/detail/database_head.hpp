// What the first bytes of a file say: a plain SQLite database, an SQLCipher one (ciphertext
// from its first byte), or something else. The SQLite knowledge the exporter and runner share.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace hone::backup::detail {

/// True when the bytes start with SQLite's plain header: an unencrypted database.
inline bool is_plain_header(const void* data, std::size_t n) {
  return n >= 16 && std::memcmp(data, "SQLite format 3", 16) == 0;
}

/// How many leading bytes classify_database_head() wants to see.
inline constexpr std::size_t database_head_bytes = 1024;

/// What the first bytes of a file say about it.
enum class database_kind {
  plain,         ///< SQLite's header with a valid page size
  encrypted,     ///< looks like SQLCipher: at least 512 bytes that read as random
  empty,         ///< no bytes at all
  not_database,  ///< anything else (text, too short, a broken header)
};

/// Classifies the first bytes of a database file (give database_head_bytes, or the whole file
/// when it is shorter). SQLite's smallest page is 512 bytes, so a shorter file is no database.
/// An SQLCipher file is ciphertext from its first byte (the salt), indistinguishable from random
/// without the key; random bytes use most of the 256 byte values (about 221 of them in 512 bytes),
/// text and other formats far fewer, so fewer than 160 distinct values means "not a database".
inline database_kind classify_database_head(const void* data, std::size_t n) {
  if (n == 0) return database_kind::empty;
  const auto* b = static_cast<const unsigned char*>(data);
  if (is_plain_header(data, n)) {
    if (n < 100) return database_kind::not_database;
    const unsigned page = (unsigned(b[16]) << 8) | b[17];  // 1 means 65536
    const bool power_of_two = page == 1 || (page >= 512 && (page & (page - 1)) == 0);
    return power_of_two ? database_kind::plain : database_kind::not_database;
  }
  if (n < 512) return database_kind::not_database;
  bool seen[256] = {};
  unsigned distinct = 0;
  for (std::size_t i = 0; i < 512; ++i)
    if (!seen[b[i]]) {
      seen[b[i]] = true;
      ++distinct;
    }
  return distinct >= 160 ? database_kind::encrypted : database_kind::not_database;
}

/// Why a file of this kind is not a database, for messages; empty for plain and encrypted.
inline std::string_view database_kind_problem(database_kind k) noexcept {
  switch (k) {
    case database_kind::empty: return "it is empty (0 bytes)";
    case database_kind::not_database: return "its content is not an SQLite or SQLCipher database";
    default: return {};
  }
}

}  // namespace hone::backup::detail
