// The Hone program's database key: Argon2id of the HONE_DB_KEY passphrase, used by Hone as an
// SQLCipher passphrase. An add-on: it needs libargon2 (CMake: the hone::backup_argon2 target),
// which the rest of the library does not.
#pragma once

#include <hone/backup/error.hpp>
#include <hone/backup/key.hpp>

#include <argon2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hone::backup {

/// Parameters of Hone's key derivation (Argon2id v0x13).
struct hone_kdf_params {
  std::uint32_t memory_kib = 19456;
  std::uint32_t passes = 2;
  std::uint32_t parallelism = 1;
  std::string_view salt = "hone-salt-v1-fix";
};

/// The raw Argon2id output of Hone's derivation (exposed for known-answer tests).
inline std::array<std::byte, 32> hone_derive(std::string_view passphrase, const hone_kdf_params& params = {}) {
  std::array<std::byte, 32> out{};
  int rc = argon2id_hash_raw(params.passes, params.memory_kib, params.parallelism, passphrase.data(), passphrase.size(),
                             params.salt.data(), params.salt.size(), out.data(), out.size());
  if (rc != ARGON2_OK) throw invalid_argument_error(std::string("Key derivation failed: ") + argon2_error_message(rc));
  return out;
}

/// The key Hone uses for HONE_DB_KEY: Argon2id(passphrase, "hone-salt-v1-fix", t=2, m=19456
/// KiB, p=1, 32 bytes), hex-encoded, then the *passphrase* string x"<hex>".
inline database_key hone_key(std::string_view passphrase, const hone_kdf_params& params = {}) {
  auto derived = hone_derive(passphrase, params);
  std::string s;
  s.reserve(67);
  s += "x\"";
  for (auto b : derived) {
    const auto v = static_cast<unsigned>(b);
    s += detail::hex_digits[v >> 4];
    s += detail::hex_digits[v & 15];
  }
  s += '"';
  detail::secure_wipe(derived.data(), derived.size());
  database_key k = database_key::passphrase(s);
  detail::secure_wipe(s.data(), s.size());
  return k;
}

}  // namespace hone::backup
