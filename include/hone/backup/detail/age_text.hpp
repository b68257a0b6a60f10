// The two text encodings of the age format: unpadded canonical base64 (RFC 4648, header lines)
// and Bech32 (BIP 173 without its length limit, for "age1..." and "AGE-SECRET-KEY-1..." keys).
#pragma once

#include <hone/backup/key.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hone::backup::detail::age {

inline constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The value of one base64 character, or -1.
constexpr int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/// Standard base64 without '=' padding.
inline std::string base64_encode(std::span<const unsigned char> in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : in) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += base64_alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += base64_alphabet[(acc << (6 - bits)) & 63];
  return out;
}

/// Decodes unpadded base64, refusing anything a canonical encoder would not have written:
/// other characters (padding included), an impossible length, non-zero unused bits.
inline std::optional<std::vector<unsigned char>> base64_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::vector<unsigned char> out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>(acc >> bits));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

inline constexpr char bech32_alphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

inline std::uint32_t bech32_polymod(std::span<const unsigned char> values) {
  static constexpr std::uint32_t gen[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  std::uint32_t chk = 1;
  for (unsigned char v : values) {
    const std::uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i)
      if ((top >> i) & 1) chk ^= gen[i];
  }
  return chk;
}

/// The checksum input: the expanded human-readable part followed by the 5-bit data values.
inline std::vector<unsigned char> bech32_expand(std::string_view hrp, std::span<const unsigned char> data5) {
  std::vector<unsigned char> v;
  v.reserve(hrp.size() * 2 + 1 + data5.size() + 6);
  for (char c : hrp) v.push_back(static_cast<unsigned char>(static_cast<unsigned char>(c) >> 5));
  v.push_back(0);
  for (char c : hrp) v.push_back(static_cast<unsigned char>(c & 31));
  v.insert(v.end(), data5.begin(), data5.end());
  return v;
}

/// Regroups bits (8 to 5 with padding, or 5 to 8 refusing non-zero or excess padding).
inline std::optional<std::vector<unsigned char>> regroup(std::span<const unsigned char> in, int from, int to,
                                                         bool pad) {
  std::vector<unsigned char> out;
  std::uint32_t acc = 0;
  int bits = 0;
  const std::uint32_t mask = (1u << to) - 1;
  for (unsigned char v : in) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back(static_cast<unsigned char>((acc >> bits) & mask));
    }
  }
  if (pad && bits > 0) out.push_back(static_cast<unsigned char>((acc << (to - bits)) & mask));
  if (!pad && (bits >= from || ((acc << (to - bits)) & mask) != 0)) return std::nullopt;
  return out;
}

/// Bech32 of data under a lowercase human-readable part; the result is lowercase.
inline std::string bech32_encode(std::string_view hrp, std::span<const unsigned char> data) {
  auto data5 = *regroup(data, 8, 5, true);
  auto values = bech32_expand(hrp, data5);
  values.insert(values.end(), 6, 0);
  const std::uint32_t mod = bech32_polymod(values) ^ 1;
  std::string out(hrp);
  out += '1';
  for (unsigned char v : data5) out += bech32_alphabet[v];
  for (int i = 0; i < 6; ++i) out += bech32_alphabet[(mod >> (5 * (5 - i))) & 31];
  secure_wipe(data5.data(), data5.size());  // the data may be a secret key
  secure_wipe(values.data(), values.size());
  return out;
}

struct bech32_value {
  std::string hrp;  ///< lowercase
  std::vector<unsigned char> data;
};

/// Decodes a Bech32 string (all lowercase or all uppercase); nullopt when it is not one.
inline std::optional<bech32_value> bech32_decode(std::string_view s) {
  bool lower = false, upper = false;
  std::string low(s);
  for (char& c : low) {
    if (c < 33 || c > 126) return std::nullopt;
    if (c >= 'a' && c <= 'z') lower = true;
    if (c >= 'A' && c <= 'Z') {
      upper = true;
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  const auto sep = low.rfind('1');
  if ((lower && upper) || sep == std::string::npos || sep == 0 || low.size() - sep < 7) return std::nullopt;
  std::vector<unsigned char> data5;
  for (char c : std::string_view(low).substr(sep + 1)) {
    const std::string_view alphabet(bech32_alphabet);
    const auto v = alphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    data5.push_back(static_cast<unsigned char>(v));
  }
  bech32_value out{low.substr(0, sep), {}};
  if (bech32_polymod(bech32_expand(out.hrp, data5)) != 1) return std::nullopt;
  auto data = regroup(std::span(data5).first(data5.size() - 6), 5, 8, false);
  if (!data) return std::nullopt;
  out.data = std::move(*data);
  secure_wipe(low.data(), low.size());
  secure_wipe(data5.data(), data5.size());
  return out;
}

}  // namespace hone::backup::detail::age
