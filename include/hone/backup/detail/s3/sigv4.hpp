// AWS Signature Version 4 for S3 requests, with OpenSSL's SHA-256, HMAC and MD5: the canonical
// request, the string to sign and the Authorization header. Only the secret's derived signing
// key touches HMAC; nothing here keeps or prints the secret.
// Kept rather than libcurl's CURLOPT_AWS_SIGV4 (libcurl 7.75 and later only): the signature
// does not depend on the installed libcurl, and unit-s3-sigv4 checks it against botocore's.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace hone::backup::detail::s3 {

using digest256 = std::array<unsigned char, 32>;
using digest128 = std::array<unsigned char, 16>;

inline std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

inline std::string to_base64(std::span<const unsigned char> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// One-shot message digest (SHA-256 or MD5) of bytes.
template <std::size_t N>
std::array<unsigned char, N> digest(const EVP_MD* md, std::span<const std::byte> data) {
  std::array<unsigned char, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N)
    throw std::runtime_error("OpenSSL digest failed");
  return out;
}
inline digest256 sha256(std::span<const std::byte> data) { return digest<32>(EVP_sha256(), data); }
inline digest256 sha256(std::string_view s) { return sha256(std::as_bytes(std::span(s.data(), s.size()))); }
inline digest128 md5(std::span<const std::byte> data) { return digest<16>(EVP_md5(), data); }
inline std::string sha256_hex(std::string_view s) { return to_hex(sha256(s)); }
inline std::string sha256_hex(std::span<const std::byte> data) { return to_hex(sha256(data)); }

/// An incremental digest of OpenSSL's: md5_stream (the ETag of what was sent or downloaded),
/// sha256_stream (the content's SHA-256).
template <std::size_t N, const EVP_MD* (*Md)()>
class digest_stream {
 public:
  digest_stream() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { reset(); }
  void reset() {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), Md(), nullptr) != 1) throw std::runtime_error("OpenSSL digest failed");
  }
  void update(std::span<const std::byte> data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) throw std::runtime_error("OpenSSL digest failed");
  }
  std::array<unsigned char, N> finish() {
    std::array<unsigned char, N> out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != N)
      throw std::runtime_error("OpenSSL digest failed");
    reset();
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};
using md5_stream = digest_stream<16, &EVP_md5>;
using sha256_stream = digest_stream<32, &EVP_sha256>;

inline digest256 hmac_sha256(std::span<const unsigned char> key, std::string_view data) {
  digest256 out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out.data(), &len) ||
      len != out.size())
    throw std::runtime_error("OpenSSL HMAC failed");
  return out;
}

/// SigV4's URI encoding: every byte except A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); '/'
/// is kept when encoding a path (S3 object keys are not normalised or encoded twice).
inline std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

using name_values = std::vector<std::pair<std::string, std::string>>;

/// A request as it is signed. `path` is already URI-encoded (uri_encode(path, true)) and is
/// sent exactly so; query names and values are raw and encoded here, as they are for the URL
/// (canonical_query_string). `headers` must include host and x-amz-date.
struct signing_input {
  std::string method;
  std::string path = "/";
  name_values query;
  name_values headers;
  std::string payload_hash;  ///< hex SHA-256 of the body, as sent in x-amz-content-sha256
};

struct signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string credential_scope;
  std::string value;          ///< hex signature
  std::string authorization;  ///< the Authorization header's value
};

/// name=value pairs, both URI-encoded, sorted by name then value, joined with '&'. The same
/// string is the URL's query, so what is signed is what is sent.
inline std::string canonical_query_string(const name_values& query) {
  std::vector<std::pair<std::string, std::string>> q;
  q.reserve(query.size());
  for (const auto& [k, v] : query) q.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

/// Header values with leading/trailing blanks removed and inner runs of blanks as one space.
inline std::string trim_header_value(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Signs a request. `amz_date` is the x-amz-date value (YYYYMMDDTHHMMSSZ); `region` e.g.
/// "auto" or "us-east-1"; `service` "s3".
inline signature sign(const signing_input& in, std::string_view access_key_id, std::string_view secret_access_key,
                      std::string_view region, std::string_view service, std::string_view amz_date) {
  if (amz_date.size() != 16) throw std::invalid_argument("x-amz-date must look like 20150830T123600Z");
  // Canonical headers: lower-case names, sorted; repeated names joined with ','.
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : in.headers) h.emplace_back(lower(trim_header_value(k)), trim_header_value(v));
  std::stable_sort(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (i > 0 && h[i].first == h[i - 1].first) {
      canonical_headers.back() = ',';
      canonical_headers += h[i].second + '\n';
      continue;
    }
    canonical_headers += h[i].first + ':' + h[i].second + '\n';
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += h[i].first;
  }
  signature s;
  s.signed_headers = signed_headers;
  s.canonical_request = in.method + '\n' + in.path + '\n' + canonical_query_string(in.query) + '\n' +
                        canonical_headers + '\n' + signed_headers + '\n' + in.payload_hash;
  const std::string_view day = amz_date.substr(0, 8);
  s.credential_scope = std::string(day) + '/' + std::string(region) + '/' + std::string(service) + "/aws4_request";
  s.string_to_sign =
      "AWS4-HMAC-SHA256\n" + std::string(amz_date) + '\n' + s.credential_scope + '\n' + sha256_hex(s.canonical_request);
  std::string first = "AWS4" + std::string(secret_access_key);
  digest256 k = hmac_sha256({reinterpret_cast<const unsigned char*>(first.data()), first.size()}, day);
  OPENSSL_cleanse(first.data(), first.size());
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  k = hmac_sha256(k, "aws4_request");
  s.value = to_hex(hmac_sha256(k, s.string_to_sign));
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + std::string(access_key_id) + '/' + s.credential_scope +
                    ", SignedHeaders=" + signed_headers + ", Signature=" + s.value;
  return s;
}

}  // namespace hone::backup::detail::s3
