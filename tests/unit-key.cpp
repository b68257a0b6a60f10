// Keys: the original Hone's Argon2id derivation (checked against Debian's argon2 command),
// raw keys, and that key material is never printed.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <cstdio>
#include <sstream>

using namespace hone_test;

namespace {
std::string hex(std::span<const std::byte> b) {
  std::string s;
  for (auto x : b) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(x));
    s += buf;
  }
  return s;
}

/// Runs Debian's argon2 command (the independent oracle of the original's key derivation, docs/Compatibility.md
/// "Opening a backup by hand").
std::string argon2_cli(const std::string& pass) {
  std::string cmd = "printf %s '" + pass + "' | argon2 hone-salt-v1-fix -id -t 2 -k 19456 -p 1 -l 32 -r 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  std::string out;
  char buf[256];
  while (p && std::fgets(buf, sizeof buf, p.get())) out += buf;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(key)

BOOST_AUTO_TEST_CASE(hone_derivation_known_answers) {
  // Fixed answers, produced by `argon2 hone-salt-v1-fix -id -t 2 -k 19456 -p 1 -l 32 -r`.
  BOOST_TEST(hex(hone_derive("correct horse battery staple")) ==
             "8538bd0bc2823249d6388d54587f5dd74cf3bc0663401eba04a8d31b5f169b1a");
  BOOST_TEST(hex(hone_derive("hunter2")) == "0e67f3b079299f265e256172beb0419d427c45c957f80078f5257c83c8c6b907");
}

BOOST_AUTO_TEST_CASE(hone_derivation_matches_argon2_command) {
  for (std::string pass : {"a", "passphrase with spaces", "ünïcödé-ключ", "0123456789abcdef0123456789abcdef"}) {
    auto oracle = argon2_cli(pass);
    BOOST_REQUIRE_MESSAGE(oracle.size() == 64, "the argon2 command is needed for this test");
    BOOST_TEST(hex(hone_derive(pass)) == oracle);
  }
}

BOOST_AUTO_TEST_CASE(hone_key_is_the_x_quoted_passphrase) {
  auto k = hone_key("hunter2");
  BOOST_TEST(k.expose_secret() == "x\"0e67f3b079299f265e256172beb0419d427c45c957f80078f5257c83c8c6b907\"");
}

BOOST_AUTO_TEST_CASE(keys_are_never_printed) {
  for (auto& k : {database_key::passphrase("s3cret-pass"), hone_key("s3cret-pass"), test_key()}) {
    std::ostringstream os;
    os << k;
    BOOST_TEST(os.str() == "<key redacted>");
  }
  std::ostringstream os;
  os << database_key::none();
  BOOST_TEST(os.str() == "<no key>");
}

BOOST_AUTO_TEST_CASE(raw_key_form_and_validation) {
  std::array<std::byte, 32> b{};
  b[0] = std::byte{0xab};
  auto k = database_key::raw(b);
  BOOST_TEST(k.expose_secret().substr(0, 4) == "x'ab");
  BOOST_TEST(k.expose_secret().size() == 67u);
  std::array<std::byte, 5> short_key{};
  BOOST_CHECK_THROW(database_key::raw(short_key), invalid_argument_error);
}

BOOST_AUTO_TEST_CASE(copies_and_moves) {
  auto a = database_key::passphrase("abc");
  auto b = a;
  BOOST_TEST((a == b));
  auto c = std::move(a);
  BOOST_TEST(a.empty());
  BOOST_TEST(c.expose_secret() == "abc");
  b = database_key::none();
  BOOST_TEST(b.empty());
}

BOOST_AUTO_TEST_CASE(hone_key_opens_database_and_errors_hold_no_key) {
  scratch_dir dir("key");
  const std::string pass = "original-hone-passphrase";
  auto key = hone_key(pass);
  make_hone_db(dir / "hone.db", key, {.transactions = 10});
  // The database really is keyed with the string x"<hex>" as a passphrase: opening it with
  // that exact passphrase works, the raw-key syntax x'<hex>' does not.
  std::string hexkey = hex(hone_derive(pass));
  auto as_passphrase = database_key::passphrase("x\"" + hexkey + "\"");
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = as_passphrase;
  BOOST_TEST(sqlcipher_exporter(dir / "hone.db", o).check(dir / "hone.db").valid);
  std::vector<std::byte> raw_bytes(32);
  auto derived = hone_derive(pass);
  std::copy(derived.begin(), derived.end(), raw_bytes.begin());
  o.key = database_key::raw(raw_bytes);
  auto wrong = sqlcipher_exporter(dir / "hone.db", o).check(dir / "hone.db");
  BOOST_TEST(!wrong.valid);
  BOOST_TEST(wrong.wrong_key);
  BOOST_TEST(wrong.message.find(hexkey) == std::string::npos);
  BOOST_TEST(wrong.message.find(pass) == std::string::npos);
  // Export with the wrong key: the error names no key either.
  o.key = database_key::passphrase("not-it");
  try {
    sqlcipher_exporter(dir / "hone.db", o).export_to(dir / "copy.db", {});
    BOOST_FAIL("expected an encryption error");
  } catch (const encryption_error& e) {
    BOOST_TEST(std::string(e.what()).find("not-it") == std::string::npos);
  }
  BOOST_TEST(!fs::exists(dir / "copy.db"));
}

BOOST_AUTO_TEST_CASE(path_with_quote_is_bound_not_pasted) {
  scratch_dir dir("quote");
  auto db = dir / "it's here.db";
  make_hone_db(db, test_key(), {.transactions = 3});
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  sqlcipher_exporter e(db, o);
  auto target = dir / "o'brien's copy.db";
  auto r = e.export_to(target, {});
  BOOST_TEST(r.counts["transactions"].value_or(-1) == 3);
  BOOST_TEST(e.check(target).valid);
}

BOOST_AUTO_TEST_SUITE_END()
