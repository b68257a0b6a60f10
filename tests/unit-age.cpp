// Tests of the age v1 codec (<hone/backup/age.hpp>): round trips through the scrypt and X25519
// recipients, the file layout, and refusal of every kind of damage: each bit of a header, a
// sample of payload bits, truncation at every chunk boundary, appended bytes, empty or extra
// final chunks, a wrong key and a work factor above the limit; and the age project's test
// vectors (tests/data/age-vectors/).
#include <hone/backup.hpp>

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
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

/// An age file made chunk by chunk (plaintext size, last-chunk flag), to build streams the
/// writer never writes.
bytes craft(const std::vector<std::pair<std::size_t, bool>>& chunks) {
  namespace d = age::detail_age;
  d::file_key key;
  key.bytes.fill(7);
  const age::recipient r = fast;
  const std::string header = d::make_header(std::span(&r, 1), key);
  const std::array<unsigned char, 16> nonce{1, 2, 3};
  const auto payload_key = d::hkdf_sha256(key.span(), nonce, "payload");
  d::chacha20_poly1305 aead(payload_key.span(), true);
  bytes out(reinterpret_cast<const std::byte*>(header.data()),
            reinterpret_cast<const std::byte*>(header.data() + header.size()));
  for (unsigned char b : nonce) out.push_back(std::byte{b});
  std::uint64_t counter = 0;
  for (const auto& [size, last] : chunks) {
    std::vector<unsigned char> buf(size + 16, 0x5a);
    aead.seal(d::chunk_nonce(counter++, last), std::span(buf).first(size), buf.data() + size);
    for (unsigned char b : buf) out.push_back(std::byte{b});
  }
  return out;
}

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
          if (cut < payload) BOOST_TEST(contains(o.message, "before the 16-byte payload nonce"));
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

BOOST_AUTO_TEST_CASE(streams_the_writer_never_writes_are_refused) {
  using chunks = std::vector<std::pair<std::size_t, bool>>;
  BOOST_TEST((decrypt(craft({{chunk, false}, {100, true}}), fast_id) == bytes(chunk + 100, std::byte{0x5a})));
  const std::pair<chunks, std::string> cases[] = {
      {{}, "age file ends before its last chunk"},
      {{{chunk, false}, {0, true}}, "age chunk 1: the last chunk is empty"},
      {{{chunk, false}, {chunk, false}}, "age file ends before its last chunk"},
      {{{chunk, true}, {100, true}}, "age file has data after its last chunk"},
      {{{chunk, false}, {100, false}}, "age chunk 1: authentication failed"},
      {{{100, true}, {100, true}}, "age chunk 0: authentication failed"},
      {{{chunk, false}, {chunk, true}, {0, true}}, "age file has data after its last chunk"},
  };
  for (const auto& [c, message] : cases) {
    const outcome o = try_decrypt(craft(c), fast_id);
    BOOST_TEST_CONTEXT(message) {
      BOOST_TEST(!o.ok);
      BOOST_TEST(o.code == hb::errc::corrupt_backup);
      BOOST_TEST(o.message == message);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_damaged_chunk_is_never_returned) {
  bytes file = encrypt(pattern(chunk + 10), fast);
  file[file.size() - 20] ^= std::byte{1};  // inside the second (last) chunk
  hb::span_reader in(file);
  const age::identity id = fast_id;
  age::decrypting_reader r(in, std::span(&id, 1));
  bytes buf(chunk);
  BOOST_TEST(hb::read_full(r, buf) == chunk);  // the first chunk is intact
  BOOST_CHECK_THROW(r.read(buf), hb::corrupt_backup_error);
}

BOOST_AUTO_TEST_CASE(one_chunk_is_held_whichever_way_data_comes) {
  // The writer seals a chunk once the next byte arrives, so it holds at most one chunk.
  sink out;
  const age::recipient to = fast;
  age::encrypting_writer w(out, std::span(&to, 1));
  const std::size_t header = out.data.size();
  w.write(pattern(10 * chunk + 5));
  BOOST_TEST(out.data.size() == header + 10 * (chunk + 16));
  w.finish();
  BOOST_TEST(out.data.size() == header + 10 * (chunk + 16) + 5 + 16);
  // The reader takes from its source one chunk (and one byte) ahead of what it returned.
  class counting_reader final : public hb::reader {
   public:
    explicit counting_reader(std::span<const std::byte> d) : in_(d) {}
    std::size_t read(std::span<std::byte> buf) override {
      const std::size_t n = in_.read(buf);
      taken += n;
      return n;
    }
    std::size_t taken = 0;

   private:
    hb::span_reader in_;
  } in(out.data);
  const age::identity id = fast_id;
  age::decrypting_reader r(in, std::span(&id, 1));
  bytes buf(1);
  BOOST_TEST(r.read(buf) == 1u);
  BOOST_TEST(in.taken <= header + 16 + chunk + 16 + 1);
}

BOOST_AUTO_TEST_CASE(x25519_key_encoding_matches_the_specification_example) {
  // The example identity and recipient of the C2SP age specification.
  const age::x25519_identity id{"AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"};
  BOOST_TEST(age::x25519_public_key(id) == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
  const auto fresh = age::generate_x25519_identity();
  BOOST_TEST(fresh.secret_key.starts_with("AGE-SECRET-KEY-1"));
  BOOST_TEST(fresh.secret_key.size() == id.secret_key.size());
  BOOST_TEST(age::x25519_public_key(fresh).starts_with("age1"));
  BOOST_TEST(age::generate_x25519_identity().secret_key != fresh.secret_key);
}

BOOST_AUTO_TEST_CASE(x25519_round_trip_to_several_recipients) {
  const auto alice = age::generate_x25519_identity(), bob = age::generate_x25519_identity();
  const std::vector<age::recipient> to = {age::x25519_recipient{age::x25519_public_key(alice)},
                                          age::x25519_recipient{age::x25519_public_key(bob)}};
  const bytes plain = pattern(3 * chunk + 5);
  const bytes file = encrypt(plain, to, {999});
  const std::string head(reinterpret_cast<const char*>(file.data()), 40);
  BOOST_TEST(head.starts_with("age-encryption.org/v1\n-> X25519 "));
  int log2_work = -1;
  for (const auto& id : {alice, bob}) {
    const age::identity ids[] = {age::x25519_identity{age::generate_x25519_identity()}, id};  // the second matches
    BOOST_TEST((decrypt(file, ids, 4096, &log2_work) == plain));
    BOOST_TEST(log2_work == 0);
  }
}

BOOST_AUTO_TEST_CASE(x25519_wrong_identity_says_wrong_key) {
  const auto alice = age::generate_x25519_identity();
  const bytes file = encrypt(pattern(10), age::x25519_recipient{age::x25519_public_key(alice)});
  for (const age::identity& id :
       {age::identity{age::generate_x25519_identity()}, age::identity{age::passphrase_identity{"pw"}}}) {
    const outcome o = try_decrypt(file, id);
    BOOST_TEST(!o.ok);
    BOOST_TEST(o.code == hb::errc::encryption);
    BOOST_TEST(contains(o.message, "wrong key"));
  }
  const outcome o = try_decrypt(encrypt(pattern(10), fast), age::identity{alice});
  BOOST_TEST(o.code == hb::errc::encryption);
}

BOOST_AUTO_TEST_CASE(bad_recipients_and_identities_are_refused_without_echoing_keys) {
  const auto alice = age::generate_x25519_identity();
  const std::string pub = age::x25519_public_key(alice);
  std::string flipped = pub;
  flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
  const std::vector<std::vector<age::recipient>> bad = {
      {},
      {age::x25519_recipient{flipped}},           // checksum
      {age::x25519_recipient{alice.secret_key}},  // a secret key given as a recipient
      {fast, age::x25519_recipient{pub}},         // scrypt must be alone
      {age::scrypt_recipient{"", 10}},            // empty passphrase
      {age::scrypt_recipient{"pw", 0}},           // work factor
  };
  for (const auto& to : bad) {
    sink out;
    try {
      age::encrypting_writer w(out, to);
      BOOST_ERROR("accepted");
    } catch (const hb::error& e) {
      BOOST_TEST(e.code() == hb::errc::invalid_argument);
      BOOST_TEST(!contains(e.what(), alice.secret_key));
      BOOST_TEST(!contains(e.what(), "AGE-SECRET"));
    }
    BOOST_TEST(out.data.empty());
  }
  std::string bad_secret = alice.secret_key;
  bad_secret.back() = bad_secret.back() == 'Q' ? 'P' : 'Q';
  const outcome o = try_decrypt(encrypt(pattern(1), age::x25519_recipient{pub}), age::x25519_identity{bad_secret});
  BOOST_TEST(o.code == hb::errc::invalid_argument);
  BOOST_TEST(!contains(o.message, bad_secret));
  // refused as such even when the file has no X25519 stanza to try it on
  BOOST_TEST(try_decrypt(encrypt(pattern(1), fast), age::x25519_identity{bad_secret}).code ==
             hb::errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(lowercase_identities_and_recipients_are_accepted) {
  const auto alice = age::generate_x25519_identity();
  std::string lower = alice.secret_key;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string upper = age::x25519_public_key(alice);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const bytes file = encrypt(pattern(10), age::x25519_recipient{upper});
  BOOST_TEST((decrypt(file, age::x25519_identity{lower}) == pattern(10)));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

struct vector_file {
  std::multimap<std::string, std::string> keys;
  bytes body;
};

vector_file read_vector(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  vector_file v;
  std::size_t pos = 0;
  for (;;) {
    const auto lf = all.find('\n', pos);
    const std::string line = all.substr(pos, lf - pos);
    pos = lf + 1;
    if (line.empty()) break;
    const auto colon = line.find(": ");
    v.keys.emplace(line.substr(0, colon), line.substr(colon + 2));
  }
  const auto* b = reinterpret_cast<const std::byte*>(all.data());
  v.body.assign(b + pos, b + all.size());
  return v;
}

bytes inflate_zlib(const bytes& in) {
  z_stream z{};
  BOOST_REQUIRE(inflateInit(&z) == Z_OK);
  bytes out;
  std::array<unsigned char, 65536> buf{};
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buf.data();
    z.avail_out = buf.size();
    rc = inflate(&z, Z_NO_FLUSH);
    const auto* b = reinterpret_cast<const std::byte*>(buf.data());
    out.insert(out.end(), b, b + (buf.size() - z.avail_out));
  }
  inflateEnd(&z);
  BOOST_REQUIRE(rc == Z_STREAM_END);
  return out;
}

std::string sha256_hex(const bytes& data) {
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned char c : md) out += {hb::detail::hex_digits[c >> 4], hb::detail::hex_digits[c & 15]};
  return out;
}

/// Decrypts a vector, keeping all the plaintext released before an error.
outcome run_vector(const vector_file& v, bytes& released) {
  std::vector<age::identity> ids;
  for (const auto& [k, val] : v.keys) {
    if (k == "passphrase") ids.push_back(age::passphrase_identity{val});
    if (k == "identity") ids.push_back(age::x25519_identity{val});
  }
  const auto compressed = v.keys.find("compressed");
  const bytes file = compressed != v.keys.end() ? inflate_zlib(v.body) : v.body;
  outcome o;
  try {
    hb::span_reader in(file);
    age::decrypting_reader r(in, ids);
    bytes buf(10000);
    while (std::size_t n = r.read(buf)) released.insert(released.end(), buf.begin(), buf.begin() + std::ptrdiff_t(n));
    o.ok = true;
  } catch (const hb::error& e) {
    o.code = e.code();
    o.message = e.what();
  }
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(age_vectors)

BOOST_AUTO_TEST_CASE(c2sp_cctv_vectors) {
  std::map<std::string, int> counts;
  for (const auto& entry : std::filesystem::directory_iterator(HONE_AGE_VECTORS_DIR)) {
    if (entry.path().filename() == "README.md") continue;
    const vector_file v = read_vector(entry.path());
    const std::string expect = v.keys.find("expect")->second;
    bytes released;
    const outcome o = run_vector(v, released);
    BOOST_TEST_CONTEXT(entry.path().filename().string() << " (expect: " << expect << "; got: " << o.message << ")") {
      if (expect == "success" || expect == "payload failure")
        BOOST_TEST(sha256_hex(released) == v.keys.find("payload")->second);
      if (expect == "success") BOOST_TEST(o.ok);
      if (expect == "no match") BOOST_TEST(o.code == hb::errc::encryption);
      if (expect == "HMAC failure") BOOST_TEST(o.message == "age header MAC does not match");
      if (expect == "header failure" || expect == "payload failure") {
        BOOST_TEST(!o.ok);
        BOOST_TEST(o.code == hb::errc::corrupt_backup);
        BOOST_TEST(o.message != "age header MAC does not match");
      }
      const bool payload_reason = o.message.starts_with("age chunk") || o.message.starts_with("age file ");
      if (expect == "payload failure") BOOST_TEST(payload_reason);
      if (expect == "header failure") BOOST_TEST(!payload_reason);
    }
    ++counts[expect];
  }
  BOOST_TEST_MESSAGE("age vectors run: " << counts["success"] << " success, " << counts["header failure"]
                                         << " header failure, " << counts["HMAC failure"] << " HMAC failure, "
                                         << counts["no match"] << " no match, " << counts["payload failure"]
                                         << " payload failure");
  int total = 0;
  for (const auto& [k, n] : counts) total += n;
  BOOST_TEST(total == 92);
}

BOOST_AUTO_TEST_SUITE_END()
