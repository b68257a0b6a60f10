// libFuzzer target: the age reader (age.hpp). Arbitrary bytes go through decrypting_reader with
// a passphrase (work factor capped at 2^4, so scrypt stays fast) and an X25519 identity, read in
// odd-sized pieces: it must either give the plaintext or throw hone::backup::error, never crash.
// The seed corpus (corpus/age/) holds files both identities open, so mutations reach the
// payload. The input is also encrypted to both and read back, which must give the same bytes.
#include <hone/backup/age.hpp>
#include <hone/backup/io.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace hb = hone::backup;
namespace age = hone::backup::age;

namespace {

// The seed corpus was written with these by tests/age/age-tool (the passphrase with work factor 2^2).
const age::x25519_identity fuzz_identity{"AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"};
constexpr const char* fuzz_passphrase = "fuzz";

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_age: invariant failed: %s\n", what);
  std::abort();
}

class sink final : public hb::writer {
 public:
  void write(std::span<const std::byte> d) override { bytes.insert(bytes.end(), d.begin(), d.end()); }
  std::vector<std::byte> bytes;
};

std::vector<std::byte> read_all(std::span<const std::byte> file, std::span<const age::identity> with) {
  hb::span_reader in(file);
  age::decrypting_reader r(in, with);
  std::vector<std::byte> out, buf(7777);
  while (std::size_t n = r.read(buf)) out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  const age::identity ids[] = {age::passphrase_identity{fuzz_passphrase, 4}, fuzz_identity};
  try {
    read_all(input, ids);
  } catch (const hb::error&) {
  }
  const age::recipient to[] = {age::x25519_recipient{age::x25519_public_key(fuzz_identity)}};
  sink file;
  age::encrypting_writer w(file, to);
  w.write(input);
  w.finish();
  if (read_all(file.bytes, ids) != std::vector<std::byte>(input.begin(), input.end())) fail("round trip differs");
  return 0;
}
