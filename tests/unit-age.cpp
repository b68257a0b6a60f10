// Tests of the age v1 codec (<hone/backup/age.hpp>): round trips through the scrypt and X25519
// recipients, the file layout, and refusal of every kind of damage: each bit of a header, a
// sample of payload bits, truncation at every chunk boundary, appended bytes, empty or extra
// final chunks, a wrong key and a work factor above the limit.
#include <hone/backup.hpp>

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hb = hone::backup;
namespace age = hone::backup::age;

namespace {

using bytes = std::vector<std::byte>;
constexpr std::size_t chunk = age::chunk_size;

bytes pattern(std::size_t n, std::uint32_t seed = 1) {
  bytes out(n);
  std::uint32_t x = seed;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return out;
}

/// A writer into a byte vector.
class sink final : public hb::writer {
 public:
  void write(std::span<const std::byte> d) override { data.insert(data.end(), d.begin(), d.end()); }
  bytes data;
};

/// Writes `plain` to an age file in pieces of the given sizes (cycled).
bytes encrypt(const bytes& plain, std::span<const age::recipient> to, std::vector<std::size_t> pieces = {65536}) {
  sink out;
  age::encrypting_writer w(out, to);
  std::size_t at = 0;
  for (std::size_t i = 0; at < plain.size(); ++i) {
    const std::size_t n = std::min(pieces[i % pieces.size()], plain.size() - at);
    w.write(std::span(plain).subspan(at, n));
    at += n;
  }
  w.finish();
  return out.data;
}

bytes encrypt(const bytes& plain, const age::recipient& to, std::vector<std::size_t> pieces = {65536}) {
  return encrypt(plain, std::span(&to, 1), std::move(pieces));
}

/// Reads a whole age file in reads of `piece` bytes.
bytes decrypt(const bytes& file, std::span<const age::identity> with, std::size_t piece = 100000,
              int* log2_work = nullptr) {
  hb::span_reader in(file);
  age::decrypting_reader r(in, with);
  if (log2_work) *log2_work = r.log2_work();
  bytes out, buf(piece);
  for (;;) {
    const std::size_t n = r.read(buf);
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

bytes decrypt(const bytes& file, const age::identity& with, std::size_t piece = 100000) {
  return decrypt(file, std::span(&with, 1), piece);
}

/// The error a decryption throws (code and message); none when it succeeds.
struct outcome {
  bool ok = false;
  hb::errc code{};
  std::string message;
};

outcome try_decrypt(const bytes& file, const age::identity& with) {
  outcome o;
  try {
    decrypt(file, with);
    o.ok = true;
  } catch (const hb::error& e) {
    o.code = e.code();
    o.message = e.what();
  }
  return o;
}

const age::scrypt_recipient fast{"correct horse battery staple", 1};  // cheap scrypt for many runs
const age::passphrase_identity fast_id{"correct horse battery staple"};

std::size_t header_size(const bytes& file) {
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  return text.find("\n--- ") + 1 + 4 + 43 + 1;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(age_codec)

BOOST_AUTO_TEST_CASE(round_trips_of_every_size_in_odd_pieces) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, chunk - 1, chunk, chunk + 1, 2 * chunk, 3 * chunk + 17,
                        std::size_t{5} * 1024 * 1024 + 123}) {
    BOOST_TEST_CONTEXT("payload of " << n << " bytes") {
      const bytes plain = pattern(n, static_cast<std::uint32_t>(n));
      const bytes file = encrypt(plain, fast, {1, 7, 4093, 70001, 65536});
      const std::size_t chunks = n == 0 ? 1 : (n + chunk - 1) / chunk;
      BOOST_TEST(file.size() == header_size(file) + 16 + n + 16 * chunks);
      BOOST_TEST(age::looks_like_age(file));
      BOOST_TEST((decrypt(file, fast_id, 1) == plain));
      BOOST_TEST((decrypt(file, fast_id, 65537) == plain));
    }
  }
}

BOOST_AUTO_TEST_CASE(default_work_factor_is_recorded_and_reported) {
  const bytes plain = pattern(1000);
  const bytes file = encrypt(plain, age::scrypt_recipient{"secret"});
  const std::string head(reinterpret_cast<const char*>(file.data()), 64);
  BOOST_TEST(head.starts_with("age-encryption.org/v1\n-> scrypt "));
  BOOST_TEST(contains(head, " 15\n"));
  int log2_work = -1;
  const age::identity id = age::passphrase_identity{"secret"};
  BOOST_TEST((decrypt(file, std::span(&id, 1), 4096, &log2_work) == plain));
  BOOST_TEST(log2_work == 15);
}

BOOST_AUTO_TEST_CASE(each_file_has_its_own_key_salt_and_nonce) {
  const bytes plain = pattern(100);
  BOOST_TEST((encrypt(plain, fast) != encrypt(plain, fast)));
}

BOOST_AUTO_TEST_CASE(wrong_passphrase_says_wrong_key) {
  const outcome o = try_decrypt(encrypt(pattern(10), fast), age::passphrase_identity{"not it"});
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.code == hb::errc::encryption);
  BOOST_TEST(contains(o.message, hb::wrong_key_message));
  BOOST_TEST(contains(o.message, "wrong key"));
  BOOST_TEST(!contains(o.message, "not it"));
}

BOOST_AUTO_TEST_CASE(work_factor_above_the_limit_is_refused_before_scrypt_runs) {
  const bytes file = encrypt(pattern(10), age::scrypt_recipient{"pw", 16});
  const outcome o = try_decrypt(file, age::passphrase_identity{"pw", 15});
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.code == hb::errc::corrupt_backup);
  BOOST_TEST(contains(o.message, "2^16 (64 MiB of memory) is above the limit 2^15"));
  BOOST_TEST((decrypt(file, age::passphrase_identity{"pw", 16}) == pattern(10)));
}

BOOST_AUTO_TEST_CASE(every_header_bit_flip_is_refused) {
  const bytes plain = pattern(100);
  const bytes file = encrypt(plain, fast);
  const std::size_t header = header_size(file);
  const std::size_t mac_line = header - (4 + 43 + 1);
  std::size_t wrong_key = 0, mac_mismatch = 0;
  for (std::size_t bit = 0; bit < header * 8; ++bit) {
    bytes bad = file;
    bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    const outcome o = try_decrypt(bad, fast_id);
    BOOST_TEST_CONTEXT("bit " << bit) {
      BOOST_TEST(!o.ok);
      // The stanza's salt or body damaged reads as a wrong passphrase: it cannot be told apart.
      BOOST_TEST((o.code == hb::errc::corrupt_backup || o.code == hb::errc::encryption));
      if (bit / 8 < 22 || bit / 8 >= mac_line) BOOST_TEST(o.code == hb::errc::corrupt_backup);
    }
    wrong_key += o.code == hb::errc::encryption;
    mac_mismatch += o.message == "age header MAC does not match";
  }
  BOOST_TEST(wrong_key > 0u);
  BOOST_TEST(mac_mismatch > 43u * 4);  // most bits of the MAC's 43 characters keep it well-formed
}

BOOST_AUTO_TEST_CASE(payload_bit_flips_are_refused_naming_the_chunk) {
  const bytes plain = pattern(2 * chunk + 1000);
  const bytes file = encrypt(plain, fast);
  const std::size_t header = header_size(file);
  std::uint64_t x = 7;
  for (int i = 0; i < 400; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    // the 16-byte nonce's bits first, then a sample spread over the chunks and their tags
    const std::size_t bit =
        i < 128 ? header * 8 + static_cast<std::size_t>(i) : header * 8 + (x >> 20) % ((file.size() - header) * 8);
    bytes bad = file;
    bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    const std::size_t chunk_no = bit / 8 < header + 16 ? 0 : (bit / 8 - header - 16) / (chunk + 16);
    const outcome o = try_decrypt(bad, fast_id);
    BOOST_TEST_CONTEXT("bit " << bit) {
      BOOST_TEST(!o.ok);
      BOOST_TEST(o.code == hb::errc::corrupt_backup);
      BOOST_TEST(o.message == "age chunk " + std::to_string(chunk_no) + ": authentication failed");
    }
  }
}

BOOST_AUTO_TEST_CASE(truncation_at_every_chunk_boundary_is_refused) {
  for (std::size_t n : {2 * chunk + 1000, 3 * chunk}) {
    const bytes file = encrypt(pattern(n), fast);
    const std::size_t payload = header_size(file) + 16;
    BOOST_TEST_CONTEXT(n << " bytes") {
      for (std::size_t cut = header_size(file); cut < file.size(); ++cut) {
        const bool boundary = cut >= payload && (cut - payload) % (chunk + 16) == 0;
        if (!boundary && cut != header_size(file) && cut % 997 != 0) continue;
        const outcome o = try_decrypt(bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut)), fast_id);
        BOOST_TEST_CONTEXT("cut at " << cut) {
          BOOST_TEST(!o.ok);
          BOOST_TEST(o.code == hb::errc::corrupt_backup);
          if (boundary) BOOST_TEST(o.message == "age file ends before its last chunk");
          if (cut < payload) BOOST_TEST(o.message == "age file ends inside its payload nonce");
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(appended_bytes_are_refused) {
  for (std::size_t n : {std::size_t{0}, std::size_t{100}, chunk, 2 * chunk}) {
    bytes file = encrypt(pattern(n), fast);
    file.push_back(std::byte{0});
    const outcome o = try_decrypt(file, fast_id);
    BOOST_TEST_CONTEXT(n << " bytes") {
      BOOST_TEST(!o.ok);
      BOOST_TEST(o.code == hb::errc::corrupt_backup);
      // A short last chunk grown by a byte no longer authenticates; a full one is followed by data.
      BOOST_TEST(o.message == (n % chunk == 0 && n > 0
                                   ? "age file has data after its last chunk"
                                   : "age chunk " + std::to_string(n / chunk) + ": authentication failed"));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
