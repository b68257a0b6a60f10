// Tests of gzip_compressor and identity_compressor: round trips, interoperability with gzip
// and zlib, the stored path for ciphertext, the compression ratio, and rejection of damaged
// input.
#include <hone/backup.hpp>

#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace hb = hone::backup;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::byte>;

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = splitmix(seed);
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) b[i + k] = static_cast<std::byte>(v >> (8 * k));
  }
  return b;
}

// Pages that look like SQLite table leaves of a personal-finance database: a small header,
// records of dates, merchant names, amounts and hex ids packed at the page end, zero-filled
// free space in between.
bytes sqlite_like(std::size_t n, std::uint64_t seed) {
  static const char* const merchants[] = {"Coffee Corner", "City Grocery",     "Metro Transit",  "Book Nook",
                                          "Pharmacy Plus", "Gas & Go",         "Streaming Co",   "Hardware Hub",
                                          "Pizza Palace",  "Electric Utility", "Gym Membership", "Bakery"};
  static const char* const categories[] = {"food", "transport", "bills", "leisure", "health", "home"};
  bytes out;
  out.reserve(n + 4096);
  std::uint64_t rowid = 1;
  while (out.size() < n) {
    std::string page(4096, '\0');
    page[0] = '\x0d';
    std::size_t end = page.size();
    std::size_t cells = 0;
    for (;;) {
      std::uint64_t r = splitmix(seed);
      char rec[160];
      int len = std::snprintf(
          rec, sizeof rec, "%llu|2024-%02u-%02u|%s|%s|%c%u.%02u|%08llx", static_cast<unsigned long long>(rowid),
          static_cast<unsigned>(r % 12 + 1), static_cast<unsigned>((r >> 4) % 28 + 1), merchants[(r >> 9) % 12],
          categories[(r >> 13) % 6], (r >> 16) % 5 ? '-' : '+', static_cast<unsigned>((r >> 19) % 300),
          static_cast<unsigned>((r >> 28) % 100), static_cast<unsigned long long>((r >> 32) & 0xFFFFFFu));
      std::size_t need = static_cast<std::size_t>(len) + 4;
      if (end < 8 + 2 * (cells + 1) + need + (r % 600)) break;  // leave some free space
      end -= need;
      page[end] = static_cast<char>(len);
      page[end + 1] = static_cast<char>(rowid & 0x7F);
      std::memcpy(&page[end + 4], rec, static_cast<std::size_t>(len));
      page[8 + 2 * cells] = static_cast<char>(end >> 8);
      page[9 + 2 * cells] = static_cast<char>(end & 0xFF);
      ++cells;
      ++rowid;
    }
    page[3] = static_cast<char>(cells >> 8);
    page[4] = static_cast<char>(cells & 0xFF);
    auto p = reinterpret_cast<const std::byte*>(page.data());
    out.insert(out.end(), p, p + page.size());
  }
  out.resize(n);
  return out;
}

bytes to_bytes(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  return bytes(p, p + s.size());
}

bytes concat(const bytes& a, const bytes& b) {
  bytes r = a;
  r.insert(r.end(), b.begin(), b.end());
  return r;
}

// Hands out data in uneven pieces, as pipes and sockets do.
class chunky_reader final : public hb::reader {
 public:
  explicit chunky_reader(std::span<const std::byte> data) : data_(data) {}
  std::size_t read(std::span<std::byte> buf) override {
    std::size_t n = std::min({buf.size(), data_.size(), static_cast<std::size_t>(1 + splitmix(seed_) % 70000)});
    std::memcpy(buf.data(), data_.data(), n);
    data_ = data_.subspan(n);
    return n;
  }

 private:
  std::span<const std::byte> data_;
  std::uint64_t seed_ = 42;
};

class failing_reader final : public hb::reader {
 public:
  explicit failing_reader(std::size_t fail_after) : left_(fail_after) {}
  std::size_t read(std::span<std::byte> buf) override {
    if (left_ == 0) throw hb::io_error("Failed to read test input: simulated");
    std::size_t n = std::min(buf.size(), left_);
    std::fill_n(buf.begin(), n, std::byte{'a'});
    left_ -= n;
    return n;
  }

 private:
  std::size_t left_;
};

class failing_writer final : public hb::writer {
 public:
  explicit failing_writer(std::size_t fail_after) : left_(fail_after) {}
  void write(std::span<const std::byte> data) override {
    if (data.size() > left_) throw hb::io_error("Failed to write test output: No space left on device");
    left_ -= data.size();
  }

 private:
  std::size_t left_;
};

struct compressed {
  bytes data;
  hb::compress_result result;
  std::vector<std::uint64_t> progress;
};

template <class C>
compressed compress(const C& c, const bytes& input) {
  compressed r;
  hb::span_reader in(input);
  hb::buffer_writer<bytes> out(r.data);
  r.result = c.compress(in, out, [&](std::uint64_t done) { r.progress.push_back(done); });
  return r;
}

template <class C>
bytes decompress(const C& c, const bytes& input) {
  bytes r;
  hb::span_reader in(input);
  hb::buffer_writer<bytes> out(r);
  std::uint64_t n = c.decompress(in, out, {});
  BOOST_TEST(n == r.size());
  return r;
}

// The reference a gzip reader that stops after one member would produce.
bytes zlib_first_member(const bytes& gz) {
  z_stream z{};
  BOOST_REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  bytes out;
  std::vector<unsigned char> buf(1 << 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buf.data();
    z.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&z, Z_NO_FLUSH);
    auto p = reinterpret_cast<const std::byte*>(buf.data());
    out.insert(out.end(), p, p + (buf.size() - z.avail_out));
  }
  inflateEnd(&z);
  BOOST_TEST(rc == Z_STREAM_END);
  BOOST_TEST(z.avail_in == 0u);  // everything was one member
  return out;
}

std::size_t zlib_level6_size(const bytes& input) {
  uLongf len = compressBound(static_cast<uLong>(input.size()));
  std::vector<Bytef> buf(len);
  BOOST_REQUIRE(compress2(buf.data(), &len, reinterpret_cast<const Bytef*>(input.data()),
                          static_cast<uLong>(input.size()), 6) == Z_OK);
  return len - 6 + 18;  // zlib framing replaced by gzip framing
}

fs::path scratch_dir() {
  const char* env = std::getenv("HONE_TEST_SCRATCH");
  fs::path base = env && *env ? fs::path(env) : fs::temp_directory_path();
  fs::path dir = base / ("unit-gzip-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

struct scratch {
  fs::path dir = scratch_dir();
  ~scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path write(const std::string& name, const bytes& data) const {
    fs::path p = dir / name;
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    BOOST_REQUIRE(f.good());
    return p;
  }
  bytes read(const fs::path& p) const {
    std::ifstream f(p, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return to_bytes(s);
  }
};

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

// gzip -t accepts the file, and gzip -dc gives back the input.
void check_with_gzip_tool(const bytes& gz, const bytes& original) {
  scratch s;
  fs::path file = s.write("data.db.gz", gz);
  BOOST_TEST(run("gzip -t '" + file.string() + "'") == 0);
  fs::path back = s.dir / "data.db";
  BOOST_REQUIRE(run("gzip -dc '" + file.string() + "' > '" + back.string() + "'") == 0);
  BOOST_TEST((s.read(back) == original));
}

void check_progress(const std::vector<std::uint64_t>& p, std::uint64_t total) {
  BOOST_REQUIRE(!p.empty());
  BOOST_TEST(std::is_sorted(p.begin(), p.end()));
  BOOST_TEST(p.back() == total);
}

void check_round_trip(const hb::gzip_compressor& c, const bytes& input) {
  compressed gz = compress(c, input);
  BOOST_TEST(gz.result.bytes_in == input.size());
  BOOST_TEST(gz.result.bytes_out == gz.data.size());
  check_progress(gz.progress, input.size());
  BOOST_TEST((decompress(c, gz.data) == input));
  BOOST_TEST((zlib_first_member(gz.data) == input));
}

template <class F>
void check_corrupt(F&& f, std::string_view expect_in_message = {}) {
  try {
    f();
    BOOST_ERROR("no corrupt_backup_error thrown");
  } catch (const hb::corrupt_backup_error& e) {
    std::string what = e.what();
    BOOST_TEST(e.code() == hb::errc::corrupt_backup);
    BOOST_TEST(what.starts_with("Backup is corrupt: "), what);
    BOOST_TEST(what.find(expect_in_message) != std::string::npos, what);
  }
}

const hb::gzip_compressor codec;
constexpr std::size_t ten_mb = 10 * 1024 * 1024;

}  // namespace

BOOST_AUTO_TEST_SUITE(gzip)

BOOST_AUTO_TEST_CASE(concept_and_suffix) {
  static_assert(hb::Compressor<hb::gzip_compressor>);
  static_assert(hb::Compressor<hb::identity_compressor>);
  BOOST_TEST(codec.suffix() == ".db.gz");
  BOOST_TEST(hb::identity_compressor{}.suffix() == ".db");
}

BOOST_AUTO_TEST_CASE(round_trip_empty) {
  compressed gz = compress(codec, {});
  BOOST_TEST(gz.result.compressed == false);
  BOOST_TEST(gz.result.bytes_in == 0u);
  BOOST_TEST(gz.data.size() == 23u);  // header, one empty final stored block, trailer
  check_progress(gz.progress, 0);
  BOOST_TEST(decompress(codec, gz.data).empty());
  BOOST_TEST(zlib_first_member(gz.data).empty());
  check_with_gzip_tool(gz.data, {});
}

BOOST_AUTO_TEST_CASE(round_trip_small) {
  bytes text = to_bytes(std::string_view("SQLite format 3\0 hello hello hello hello hello hello hello", 58));
  compressed gz = compress(codec, text);
  BOOST_TEST(gz.result.compressed == true);
  BOOST_TEST((decompress(codec, gz.data) == text));
  check_with_gzip_tool(gz.data, text);
  check_round_trip(codec, to_bytes("x"));
  check_round_trip(codec, random_bytes(5000, 7));
  BOOST_TEST(compress(codec, random_bytes(5000, 7)).result.compressed == false);
}

BOOST_AUTO_TEST_CASE(compressible_10mb) {
  bytes input = sqlite_like(ten_mb, 1);
  compressed gz = compress(codec, input);
  BOOST_TEST(gz.result.compressed == true);
  std::size_t reference = zlib_level6_size(input);
  BOOST_TEST_MESSAGE("10 MB SQLite-like: gzip_compressor " << gz.data.size() << " bytes, zlib level 6 " << reference
                                                           << " bytes");
  BOOST_TEST(gz.data.size() <= reference * 103 / 100);
  BOOST_TEST(gz.data.size() < input.size() / 2);
  check_progress(gz.progress, input.size());
  BOOST_TEST((decompress(codec, gz.data) == input));
  BOOST_TEST((zlib_first_member(gz.data) == input));
  check_with_gzip_tool(gz.data, input);
}

BOOST_AUTO_TEST_CASE(random_10mb_is_stored) {
  bytes input = random_bytes(ten_mb, 2);
  compressed gz = compress(codec, input);
  BOOST_TEST(gz.result.compressed == false);
  BOOST_TEST(gz.data.size() <= input.size() + input.size() / 1000);
  check_progress(gz.progress, input.size());
  BOOST_TEST((decompress(codec, gz.data) == input));
  BOOST_TEST((zlib_first_member(gz.data) == input));
  check_with_gzip_tool(gz.data, input);
}

BOOST_AUTO_TEST_CASE(random_with_short_tail_is_stored) {
  // The tail is too short for the entropy test; deflate shaves a few bytes off it, which must
  // not make ciphertext count as compressed.
  bytes input = random_bytes(2 * 1024 * 1024 + 100, 4);
  compressed gz = compress(codec, input);
  BOOST_TEST(gz.result.compressed == false);
  BOOST_TEST((decompress(codec, gz.data) == input));
}

BOOST_AUTO_TEST_CASE(random_without_detection_is_stored_too) {
  hb::gzip_compressor c({.detect_incompressible = false});
  bytes input = random_bytes(3 * 1024 * 1024 + 17, 3);
  compressed gz = compress(c, input);
  BOOST_TEST(gz.result.compressed == false);  // deflate did not shrink any block
  BOOST_TEST(gz.data.size() <= input.size() + input.size() / 1000);
  BOOST_TEST((decompress(c, gz.data) == input));
}

BOOST_AUTO_TEST_CASE(mixed_blocks) {
  // Ciphertext-like and compressible regions alternate: each block is judged on its own.
  bytes input;
  for (int i = 0; i < 4; ++i) {
    bytes r = random_bytes(1024 * 1024, 10 + i);
    bytes t = sqlite_like(1024 * 1024 + 12345, 20 + i);
    input.insert(input.end(), r.begin(), r.end());
    input.insert(input.end(), t.begin(), t.end());
  }
  compressed gz = compress(codec, input);
  BOOST_TEST(gz.result.compressed == true);
  BOOST_TEST(gz.data.size() < input.size() * 7 / 10);
  BOOST_TEST((decompress(codec, gz.data) == input));
  BOOST_TEST((zlib_first_member(gz.data) == input));
  check_with_gzip_tool(gz.data, input);
}

BOOST_AUTO_TEST_CASE(options_variants) {
  bytes input = concat(sqlite_like(2 * 1024 * 1024 + 999, 5), random_bytes(300000, 6));
  for (int level : {0, 1, 6, 9, -1}) {
    for (unsigned threads : {1u, 2u, 3u}) {
      for (std::size_t block : {std::size_t{1}, std::size_t{64 * 1024}, std::size_t{100000}, std::size_t{1} << 20}) {
        BOOST_TEST_CONTEXT("level " << level << " threads " << threads << " block " << block) {
          hb::gzip_compressor c({.level = level, .threads = threads, .block_size = block});
          compressed gz = compress(c, input);
          BOOST_TEST(gz.result.compressed == (level != 0));
          BOOST_TEST((decompress(c, gz.data) == input));
          BOOST_TEST((zlib_first_member(gz.data) == input));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(block_boundaries) {
  // Sizes around the block size, where the end of input is found only by reading ahead.
  hb::gzip_compressor c({.threads = 2, .block_size = 64 * 1024});
  for (std::size_t n : {std::size_t{65535}, std::size_t{65536}, std::size_t{65537}, std::size_t{131072},
                        std::size_t{131073}, std::size_t{65536 * 5}}) {
    BOOST_TEST_CONTEXT("size " << n) {
      check_round_trip(c, sqlite_like(n, n));
      check_round_trip(c, random_bytes(n, n));
    }
  }
}

BOOST_AUTO_TEST_CASE(uneven_reads) {
  bytes input = concat(sqlite_like(3 * 1024 * 1024 + 5, 8), random_bytes(2 * 1024 * 1024 + 3, 9));
  bytes gz;
  {
    chunky_reader in(input);
    hb::buffer_writer<bytes> out(gz);
    codec.compress(in, out, {});  // empty progress function
  }
  bytes back;
  {
    chunky_reader in(gz);
    hb::buffer_writer<bytes> out(back);
    BOOST_TEST(codec.decompress(in, out, {}) == input.size());
  }
  BOOST_TEST((back == input));
}

BOOST_AUTO_TEST_CASE(decompress_progress) {
  bytes input = sqlite_like(3 * 1024 * 1024, 11);
  compressed gz = compress(codec, input);
  std::vector<std::uint64_t> p;
  bytes back;
  hb::span_reader in(gz.data);
  hb::buffer_writer<bytes> out(back);
  codec.decompress(in, out, [&](std::uint64_t done) { p.push_back(done); });
  check_progress(p, gz.data.size());  // compressed bytes consumed
}

BOOST_AUTO_TEST_CASE(multi_member) {
  bytes a = sqlite_like(1500000, 12);
  bytes b = random_bytes(700000, 13);
  bytes gz = concat(compress(codec, a).data, compress(codec, b).data);
  BOOST_TEST((decompress(codec, gz) == concat(a, b)));
  bytes three = concat(gz, compress(codec, {}).data);
  BOOST_TEST((decompress(codec, three) == concat(a, b)));
}

BOOST_AUTO_TEST_CASE(reads_gzip_tool_output_with_name_field) {
  scratch s;
  bytes input = sqlite_like(400000, 14);
  fs::path file = s.write("plain.db", input);
  BOOST_REQUIRE(run("gzip -9 -f '" + file.string() + "'") == 0);  // stores FNAME "plain.db"
  bytes gz = s.read(s.dir / "plain.db.gz");
  BOOST_TEST((decompress(codec, gz) == input));
}

BOOST_AUTO_TEST_CASE(header_optional_fields) {
  bytes input = sqlite_like(100000, 15);
  bytes ours = compress(codec, input).data;
  // FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT around our deflate data and trailer.
  bytes header = {std::byte{0x1f}, std::byte{0x8b}, std::byte{8},   std::byte{0x1f}, std::byte{1}, std::byte{2},
                  std::byte{3},    std::byte{4},    std::byte{0},   std::byte{3},    std::byte{4}, std::byte{0},
                  std::byte{'a'},  std::byte{'b'},  std::byte{'c'}, std::byte{'d'}};
  for (char ch : std::string_view("name.db\0comment\0", 16)) header.push_back(static_cast<std::byte>(ch));
  std::uint32_t hcrc = static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size())));
  bytes good = header;
  good.push_back(static_cast<std::byte>(hcrc & 0xFF));
  good.push_back(static_cast<std::byte>((hcrc >> 8) & 0xFF));
  good.insert(good.end(), ours.begin() + 10, ours.end());
  BOOST_TEST((decompress(codec, good) == input));
  BOOST_TEST((zlib_first_member(good) == input));

  bytes bad_hcrc = good;
  bad_hcrc[header.size()] ^= std::byte{1};
  check_corrupt([&] { decompress(codec, bad_hcrc); }, "header CRC");

  bytes reserved = ours;
  reserved[3] = std::byte{0x20};
  check_corrupt([&] { decompress(codec, reserved); }, "reserved flags");
}

BOOST_AUTO_TEST_CASE(truncated_input_throws) {
  for (const bytes& input : {sqlite_like(2 * 1024 * 1024, 16), random_bytes(2 * 1024 * 1024, 17), bytes{}}) {
    bytes gz = compress(codec, input).data;
    std::vector<std::size_t> cuts = {1,
                                     2,
                                     5,
                                     9,
                                     10,
                                     11,
                                     gz.size() / 3,
                                     gz.size() / 2,
                                     gz.size() - 9,
                                     gz.size() - 8,
                                     gz.size() - 5,
                                     gz.size() - 4,
                                     gz.size() - 1};
    for (std::size_t cut : cuts) {
      if (cut == 0 || cut >= gz.size()) continue;
      BOOST_TEST_CONTEXT("input " << input.size() << " bytes, cut at " << cut << " of " << gz.size()) {
        bytes part(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(cut));
        check_corrupt([&] { decompress(codec, part); }, cut >= 10 && cut + 8 > gz.size() ? "truncated" : "");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_message) {
  bytes gz = compress(codec, sqlite_like(300000, 18)).data;
  gz.resize(gz.size() / 2);
  check_corrupt([&] { decompress(codec, gz); }, "truncated gzip data (unexpected end of file)");
}

BOOST_AUTO_TEST_CASE(flipped_bit_throws) {
  {
    bytes gz = compress(codec, sqlite_like(2 * 1024 * 1024, 19)).data;
    gz[gz.size() / 2] ^= std::byte{0x10};
    check_corrupt([&] { decompress(codec, gz); });
  }
  {
    // In stored data only the CRC can tell.
    bytes gz = compress(codec, random_bytes(2 * 1024 * 1024, 20)).data;
    gz[gz.size() / 2] ^= std::byte{0x10};
    check_corrupt([&] { decompress(codec, gz); }, "CRC mismatch");
  }
  {
    bytes gz = compress(codec, random_bytes(200000, 21)).data;
    gz[gz.size() - 2] ^= std::byte{0x01};  // ISIZE
    check_corrupt([&] { decompress(codec, gz); }, "length mismatch");
  }
  {
    bytes gz = compress(codec, random_bytes(200000, 22)).data;
    gz[12] ^= std::byte{0x01};  // LEN of the first stored block, no longer matching NLEN
    check_corrupt([&] { decompress(codec, gz); }, "invalid deflate data");
  }
}

BOOST_AUTO_TEST_CASE(not_gzip_throws) {
  check_corrupt([&] { decompress(codec, {}); }, "not a gzip file");
  check_corrupt([&] { decompress(codec, to_bytes(std::string_view("SQLite format 3\0 and more", 25))); },
                "not a gzip file");
  check_corrupt([&] { decompress(codec, random_bytes(100000, 23)); }, "not a gzip file");
  bytes zlib_stream(128);
  uLongf len = zlib_stream.size();
  BOOST_REQUIRE(compress2(reinterpret_cast<Bytef*>(zlib_stream.data()), &len, reinterpret_cast<const Bytef*>("abc"), 3,
                          6) == Z_OK);
  zlib_stream.resize(len);
  check_corrupt([&] { decompress(codec, zlib_stream); }, "not a gzip file");
  bytes bad_method = compress(codec, to_bytes("abc")).data;
  bad_method[2] = std::byte{7};
  check_corrupt([&] { decompress(codec, bad_method); }, "compression method");
  std::byte buf[16];
  hb::span_reader in(std::span<const std::byte>{});
  check_corrupt([&] { codec.peek(in, buf); }, "not a gzip file");
}

BOOST_AUTO_TEST_CASE(trailing_data) {
  bytes input = sqlite_like(50000, 24);
  bytes gz = compress(codec, input).data;
  // Zero padding (block devices, crash-extended files) after an intact member is accepted.
  BOOST_TEST((decompress(codec, concat(gz, bytes(1000))) == input));
  check_corrupt([&] { decompress(codec, concat(gz, to_bytes("garbage"))); }, "trailing garbage");
  bytes zeros_then_junk = concat(gz, bytes(300000));
  zeros_then_junk.back() = std::byte{1};
  check_corrupt([&] { decompress(codec, zeros_then_junk); }, "trailing garbage");
  check_corrupt([&] { decompress(codec, concat(gz, to_bytes("\x1f"))); }, "truncated");
}

BOOST_AUTO_TEST_CASE(peek_reports_flag_and_first_bytes) {
  bytes plain = sqlite_like(3 * 1024 * 1024, 25);
  bytes cipher = random_bytes(3 * 1024 * 1024, 26);
  for (const bytes* input : {&plain, &cipher}) {
    bytes gz = compress(codec, *input).data;
    std::array<std::byte, 100> buf{};
    hb::span_reader in(gz);
    hb::peek_result r = codec.peek(in, buf);
    BOOST_TEST(r.bytes == buf.size());
    BOOST_TEST(r.compressed == (input == &plain));
    BOOST_TEST(std::equal(buf.begin(), buf.end(), input->begin()));
  }
  // Shorter than the buffer: the whole content.
  bytes small = to_bytes("tiny");
  bytes gz = compress(codec, small).data;
  std::array<std::byte, 64> buf{};
  hb::span_reader in(gz);
  hb::peek_result r = codec.peek(in, buf);
  BOOST_TEST(r.bytes == 4u);
  BOOST_TEST(std::equal(small.begin(), small.end(), buf.begin()));
  // An empty buffer still checks the header and reports the flag.
  bytes plain_gz = compress(codec, plain).data;
  hb::span_reader in2(plain_gz);
  BOOST_TEST(codec.peek(in2, std::span<std::byte>{}).compressed == true);
}

BOOST_AUTO_TEST_CASE(reader_and_writer_errors_propagate) {
  // Failures in the first block (read on the calling thread), at a block boundary and later
  // (read by the workers), with one and several workers.
  for (unsigned threads : {1u, 2u, 3u}) {
    hb::gzip_compressor c({.threads = threads});
    for (std::size_t fail_after : {std::size_t{0}, std::size_t{100}, std::size_t{16 * 65535},
                                   std::size_t{16 * 65535 + 1}, std::size_t{5 * 1024 * 1024}}) {
      BOOST_TEST_CONTEXT("threads " << threads << ", reader fails after " << fail_after) {
        failing_reader bad_in(fail_after);
        bytes sink;
        hb::buffer_writer<bytes> out(sink);
        BOOST_CHECK_THROW(c.compress(bad_in, out, {}), hb::io_error);
      }
    }
    for (std::size_t fail_after : {std::size_t{5}, std::size_t{100000}, std::size_t{2000000}}) {
      BOOST_TEST_CONTEXT("threads " << threads << ", writer fails after " << fail_after) {
        bytes input = concat(sqlite_like(4 * 1024 * 1024, 27), random_bytes(4 * 1024 * 1024, 28));
        hb::span_reader in(input);
        failing_writer bad_out(fail_after);
        BOOST_CHECK_THROW(c.compress(in, bad_out, {}), hb::io_error);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(identity_round_trip) {
  hb::identity_compressor id;
  bytes input = random_bytes(3 * 1024 * 1024 + 1, 28);
  compressed c = compress(id, input);
  BOOST_TEST(c.result.compressed == false);
  BOOST_TEST(c.result.bytes_in == input.size());
  BOOST_TEST(c.result.bytes_out == input.size());
  BOOST_TEST((c.data == input));
  check_progress(c.progress, input.size());
  BOOST_TEST((decompress(id, c.data) == input));
  BOOST_TEST(compress(id, {}).data.empty());

  std::array<std::byte, 16> buf{};
  hb::span_reader in(input);
  hb::peek_result r = id.peek(in, buf);
  BOOST_TEST(r.bytes == buf.size());
  BOOST_TEST(r.compressed == false);
  BOOST_TEST(std::equal(buf.begin(), buf.end(), input.begin()));
}

BOOST_AUTO_TEST_SUITE_END()
