// The compact format (NAME.db.gz.age) end to end on real SQLCipher files: sqlcipher_page_exporter
// + age_compressor in BackupRunner: round trip, both formats in one folder, wrong key, damage.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <hone/backup.hpp>

#include <algorithm>
#include <functional>
#include <string_view>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

using compact_runner = BackupRunner<sqlcipher_page_exporter, age_compressor<>, local_directory, fake_clock>;

constexpr std::string_view passphrase = "correct horse battery staple";
constexpr std::string_view marker = "MARKER-7f3a9c1e-compact";

struct fixture {
  scratch_dir dir{"compact"};
  fs::path db = dir / "hone.db";
  fs::path backups = dir / "backups";
  fake_clock clock;

  fixture() {
    if (!sqlcipher_page_exporter::supported()) return;
    make_hone_db(db, test_key(), {.accounts = 4, .transactions = 3000, .subscriptions = 5});
    auto c = open_rw(db, test_key());
    statement(c.get(), "UPDATE accounts SET name = ?1 WHERE id = 1").bind(1, marker).step();
  }
  compact_runner make(bool seal = true, std::string_view pass = passphrase) {
    sqlcipher_exporter::options o;
    o.key = test_key();
    o.counts = hone_count_queries();
    age_compressor_options a;
    a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
    a.identities.push_back(age::passphrase_identity{std::string(pass)});
    a.seal = seal;
    runner_options ro;
    ro.temp_directory = dir.path();
    return compact_runner(sqlcipher_page_exporter(db, o), age_compressor<>(a), local_directory(backups), clock, ro);
  }
};

bool contains(const std::vector<char>& bytes, std::string_view s) {
  return std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) != bytes.end();
}

template <class F>
errc code_of(F&& f) {
  try {
    f();
  } catch (const hone::backup::error& e) {
    return e.code();
  }
  BOOST_FAIL("expected a hone::backup::error");
  return errc::io;
}

#define REQUIRE_DBPAGE()                                                                     \
  if (!sqlcipher_page_exporter::supported()) {                                               \
    BOOST_TEST_MESSAGE(                                                                      \
        "skipped: the linked SQLCipher lacks sqlite_dbpage (SQLITE_ENABLE_DBPAGE_VTAB), so " \
        "the compact format is unavailable");                                                \
    return;                                                                                  \
  }

}  // namespace

BOOST_AUTO_TEST_SUITE(compact)

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_row_and_no_plaintext) {
  REQUIRE_DBPAGE();
  fixture f;
  auto r = f.make();
  const std::string before = dump(f.db, test_key());
  auto info = r.create();
  BOOST_TEST(info.name.size() > 10);
  BOOST_TEST(info.name.substr(info.name.size() - 10) == ".db.gz.age");
  BOOST_TEST(info.encrypted);
  BOOST_TEST(info.deflated);
  BOOST_TEST(*info.counts["transactions"] == 3000);
  const auto stored = read_file(f.backups / info.name);
  BOOST_TEST(std::string_view(stored.data(), 21) == "age-encryption.org/v1");
  BOOST_TEST(!contains(stored, marker));
  // Compressed plaintext, encrypted: far smaller than the database's ciphertext.
  BOOST_TEST(stored.size() < fs::file_size(f.db) / 2);

  auto listed = r.list();
  BOOST_REQUIRE(listed.size() == 1u);
  BOOST_TEST(listed[0].encrypted);
  BOOST_TEST(listed[0].problem.empty());

  auto v = r.verify(info.name);
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(*v.counts["transactions"] == 3000);

  const fs::path target = f.dir / "restored.db";
  auto res = r.restore(info.name, target, false);
  BOOST_TEST(res.restored);
  BOOST_TEST(dump(target, test_key()) == before);
  BOOST_TEST(!contains(read_file(target), marker));  // encrypted with the database's key
  BOOST_CHECK_THROW(dump(target, other_key()), hone::backup::error);
  // Nothing is left beside it or in the temp folder: no temp file, no -wal of one.
  for (auto& e : fs::directory_iterator(f.dir.path())) {
    const std::string n = e.path().filename().string();
    BOOST_TEST((n == "backups" || n.rfind("hone.db", 0) == 0 || n.rfind("restored.db", 0) == 0), n);
  }
}

// A restore of a database keyed with a passphrase derives SQLCipher's key itself, on a second
// thread while the backup's first bytes are decrypted, and writes the file with it in raw form:
// the file must be exactly what the passphrase opens. When the application changed SQLCipher's
// default key derivation (here 4000 PBKDF2 iterations, process-wide), the loader must notice and
// leave the derivation to SQLCipher, or the restored database would open with nothing.
BOOST_AUTO_TEST_CASE(a_passphrase_database_restores_to_a_file_the_passphrase_opens) {
  REQUIRE_DBPAGE();
  const auto set_default_kdf_iter = [](int n) {
    sqlite3* mem = nullptr;
    BOOST_REQUIRE(sqlite3_open(":memory:", &mem) == SQLITE_OK);
    detail::db_ptr owner(mem);
    detail::exec(mem, "PRAGMA cipher_default_kdf_iter = " + std::to_string(n));
  };
  for (int iterations : {256000, 4000}) {
    BOOST_TEST_CONTEXT("default PBKDF2 iterations " << iterations) {
      set_default_kdf_iter(iterations);
      struct restore_default {
        std::function<void(int)> set;
        ~restore_default() { set(detail::sqlcipher4_kdf_iterations); }
      } restore_kdf{set_default_kdf_iter};
      scratch_dir dir{"compact-passphrase"};
      const auto key = database_key::passphrase("a passphrase, not a raw key");
      make_hone_db(dir / "hone.db", key, {.accounts = 2, .transactions = 300, .subscriptions = 1});
      sqlcipher_exporter::options o;
      o.key = key;
      o.counts = hone_count_queries();
      age_compressor_options a;
      a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
      a.identities.push_back(age::passphrase_identity{std::string(passphrase)});
      fake_clock clock;
      runner_options ro;
      ro.temp_directory = dir.path();
      compact_runner r(sqlcipher_page_exporter(dir / "hone.db", o), age_compressor<>(a), local_directory(dir / "b"),
                       clock, ro);
      const auto info = r.create();
      BOOST_TEST(r.verify(info.name).valid);
      const fs::path target = dir / "restored.db";
      BOOST_TEST(r.restore(info.name, target, false).restored);
      BOOST_TEST(dump(target, key) == dump(dir / "hone.db", key));
      auto c = open_rw(target, key);
      statement iter(c.get(), "PRAGMA kdf_iter");
      BOOST_REQUIRE(iter.step());
      BOOST_TEST(iter.column_text(0) == std::to_string(iterations));
      BOOST_CHECK_THROW(dump(target, database_key::passphrase("another passphrase")), hone::backup::error);
    }
  }
}

BOOST_AUTO_TEST_CASE(both_formats_in_one_folder_are_one_series) {
  REQUIRE_DBPAGE();
  fixture f;
  auto gz = f.make(false);
  auto compact = f.make(true);
  auto a = gz.create();
  f.clock.advance(1h);
  auto b = compact.create();
  f.clock.advance(1h);
  auto c = gz.create();
  BOOST_TEST(a.name.substr(a.name.size() - 6) == ".db.gz");
  BOOST_TEST(b.name.substr(b.name.size() - 10) == ".db.gz.age");
  for (auto* r : {&gz, &compact}) {
    auto all = r->list();
    BOOST_REQUIRE(all.size() == 3u);
    BOOST_TEST(all[0].name == c.name);
    BOOST_TEST(all[1].name == b.name);
    BOOST_TEST(all[2].name == a.name);
    for (const auto& x : all) BOOST_TEST(r->verify(x.name).valid, x.name);
  }
  // The same second in both formats: the sequence numbers go on across them.
  auto d = compact.create();
  auto e = gz.create();
  BOOST_TEST(d.name.find("-1.db.gz.age") != std::string::npos, d.name);
  BOOST_TEST(e.name.find("-2.db.gz") != std::string::npos, e.name);
  BOOST_TEST(compact.list()[0].name == e.name);
  auto pruned = compact.prune(2);
  BOOST_TEST(pruned.deleted_count == 3u);
  BOOST_TEST(compact.list().size() == 2u);
  BOOST_TEST(fs::exists(f.backups / e.name));
  BOOST_TEST(fs::exists(f.backups / d.name));
}

BOOST_AUTO_TEST_CASE(a_name_without_suffix_finds_either_format) {
  REQUIRE_DBPAGE();
  fixture f;
  auto compact = f.make(true);
  auto gz = f.make(false);
  compact.create("before-upgrade");
  gz.create("nightly");
  // Each runner finds both, whichever format it writes.
  for (auto* r : {&compact, &gz}) {
    BOOST_TEST(r->resolve_name("before-upgrade") == "before-upgrade.db.gz.age");
    BOOST_TEST(r->resolve_name("nightly") == "nightly.db.gz");
    BOOST_TEST(r->verify("before-upgrade").valid);
    BOOST_TEST(r->get("nightly").name == "nightly.db.gz");
  }
  BOOST_TEST(gz.resolve_name("new") == "new.db.gz");
  BOOST_TEST(compact.resolve_name("new") == "new.db.gz.age");
}

BOOST_AUTO_TEST_CASE(wrong_passphrase_says_wrong_key_and_changes_nothing) {
  REQUIRE_DBPAGE();
  fixture f;
  auto info = f.make().create();
  auto wrong = f.make(true, "not the passphrase");
  const auto before = read_file(f.db);
  auto v = wrong.verify(info.name);
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.wrong_key);
  BOOST_TEST(v.message.find("different key") != std::string::npos, v.message);
  BOOST_TEST(code_of([&] { wrong.restore(info.name, f.db, true); }) == errc::encryption);
  BOOST_TEST((read_file(f.db) == before));
}

BOOST_AUTO_TEST_CASE(damage_anywhere_makes_verify_invalid_and_restore_refuse) {
  REQUIRE_DBPAGE();
  fixture f;
  auto r = f.make();
  auto info = r.create("good");
  const auto good = read_file(f.backups / info.name);
  const auto before = read_file(f.db);
  std::vector<std::pair<std::string, std::vector<char>>> bad;
  for (std::size_t at : {std::size_t(30), good.size() / 4, good.size() / 2, good.size() - 20, good.size() - 1}) {
    auto b = good;
    b[at] ^= 0x01;
    bad.push_back({"flip-" + std::to_string(at), b});
  }
  for (std::size_t cut : {good.size() - 1, good.size() - 17, good.size() / 2}) {
    bad.push_back({"cut-" + std::to_string(cut), std::vector<char>(good.begin(), good.begin() + long(cut))});
  }
  auto longer = good;
  longer.push_back('\0');
  bad.push_back({"appended", longer});
  for (const auto& [tag, bytes] : bad) {
    BOOST_TEST_CONTEXT(tag) {
      const std::string name = tag + ".db.gz.age";
      write_file(f.backups / name, bytes);
      auto v = r.verify(name);
      BOOST_TEST(!v.valid);
      BOOST_TEST(!v.message.empty());
      const errc code = code_of([&] { r.restore(name, f.db, true); });
      BOOST_TEST((code == errc::corrupt_backup || code == errc::encryption), code);
      BOOST_TEST((read_file(f.db) == before));
    }
  }
  BOOST_TEST(r.verify(info.name).valid);
}

BOOST_AUTO_TEST_CASE(plain_sqlite_image_sealed_by_hand_restores_encrypted) {
  REQUIRE_DBPAGE();
  fixture f;
  // What `sqlite3` makes (no reserved bytes), gzipped and sealed as `age -p` would.
  const fs::path plain = f.dir / "plain.db";
  make_hone_db(plain, database_key::none(), {.transactions = 500});
  const auto image = read_file(plain);
  age_compressor_options a;
  a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
  fs::create_directories(f.backups);
  {
    file_writer out(f.backups / "by-hand.db.gz.age");
    span_reader in(std::as_bytes(std::span(image)));
    age_compressor<>(a).compress(in, out, {});
    out.finish();
  }
  auto r = f.make();
  auto v = r.verify("by-hand.db.gz.age");
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(*v.counts["transactions"] == 500);
  const fs::path target = f.dir / "from-plain.db";
  r.restore("by-hand", target, false);
  BOOST_TEST(dump(target, test_key()) == dump(plain, database_key::none()));
  BOOST_TEST((detail::classify_database_file(target) == detail::database_kind::encrypted));
}

BOOST_AUTO_TEST_CASE(plain_database_round_trip) {
  REQUIRE_DBPAGE();
  fixture f;
  fs::remove(f.db);
  fs::remove(f.db.string() + "-wal");
  fs::remove(f.db.string() + "-shm");
  make_hone_db(f.db, database_key::none(), {.transactions = 700});
  sqlcipher_exporter::options o;
  o.counts = hone_count_queries();
  age_compressor_options a;
  a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
  a.identities.push_back(age::passphrase_identity{std::string(passphrase)});
  compact_runner r(sqlcipher_page_exporter(f.db, o), age_compressor<>(a), local_directory(f.backups), f.clock);
  auto info = r.create();
  BOOST_TEST(r.verify(info.name).valid);
  const fs::path target = f.dir / "plain-restored.db";
  r.restore(info.name, target, false);
  BOOST_TEST(dump(target, database_key::none()) == dump(f.db, database_key::none()));
}

BOOST_AUTO_TEST_SUITE_END()
