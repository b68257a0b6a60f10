// A database made exactly the way the original Hone makes one (tests/support/hone_original.hpp,
// written from its documented key derivation and tables, docs/Compatibility.md) is backed up, verified and restored
// with hone_key(HONE_DB_KEY), including content still in its -wal file; the restored file opens the original's way, and
// by hand with the key string docs/Compatibility.md gives.
#include <boost/test/unit_test.hpp>

#include "support/hone_original.hpp"
#include "support/testdb.hpp"

#include <cstdio>

#include <sys/wait.h>

using namespace hone_test;

namespace {

const std::string passphrase = "hone original passphrase";
// `printf %s 'hone original passphrase' | argon2 hone-salt-v1-fix -id -t 2 -k 19456 -p 1 -l 32 -r`
// (Debian's argon2 20190702, Argon2 version 0x13) printed:
const std::string passphrase_argon2 = "5e4d79c98c33a312a3de50da37af4a0503afbb847e5b1284f6b2ece3113086dd";

using disk_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

/// Debian's argon2 command with the parameters docs/Compatibility.md gives. The passphrase is
/// written to its stdin, so it never appears on a command line.
std::string argon2_command(const std::string& pass, const fs::path& scratch) {
  const fs::path out = scratch / ".argon2-out";
  const std::string cmd = "argon2 hone-salt-v1-fix -id -v 13 -t 2 -k 19456 -p 1 -l 32 -r > '" + out.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "w");
  BOOST_REQUIRE_MESSAGE(p, "cannot run the argon2 command");
  std::fwrite(pass.data(), 1, pass.size(), p);
  int st = ::pclose(p);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the argon2 command failed");
  auto bytes = read_file(out);
  std::string s(bytes.begin(), bytes.end());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  fs::remove(out);
  return s;
}

/// The key exactly as the original passes it, given to the library as an opaque passphrase:
/// independent of hone_key().
database_key original_key_as_passphrase(const std::string& pass) {
  return database_key::passphrase(original::key_string(pass));
}

struct original_fixture {
  scratch_dir dir{"original"};
  fs::path db = dir / "hone.db";
  fs::path backups = dir / "backups";
  original_fixture() { original::create_database(db, passphrase); }

  disk_runner runner(const database_key& key, export_method m = export_method::sqlcipher_export) {
    sqlcipher_exporter::options o;
    o.counts = hone_test::hone_count_queries();
    o.key = key;
    o.method = m;
    runner_options ro;
    ro.temp_directory = dir.path();
    return disk_runner(sqlcipher_exporter(db, o), gzip_compressor{}, local_directory(backups), fake_clock{}, ro);
  }
};

std::int64_t count(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  BOOST_REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  std::int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  return n;
}

std::string text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    if (auto t = sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(t);
  sqlite3_finalize(s);
  return out;
}

constexpr auto needs4 = "the original's databases are SQLCipher 4 files, which SQLCipher 3 cannot open";

}  // namespace

BOOST_AUTO_TEST_SUITE(original_db)

BOOST_AUTO_TEST_CASE(helper_key_matches_argon2_command_known_answer) {
  scratch_dir dir("argon2");
  // The fixed known answer, and the live oracle (which must agree with it).
  BOOST_TEST(original::derive_hex(passphrase) == passphrase_argon2);
  BOOST_TEST(argon2_command(passphrase, dir.path()) == passphrase_argon2);
  for (std::string pass : {"correct horse battery staple", "x", "pässwörd with spaces and 'quotes'"})
    BOOST_TEST(original::derive_hex(pass) == argon2_command(pass, dir.path()), pass);
  BOOST_TEST(original::derive_hex("correct horse battery staple") ==
             "8538bd0bc2823249d6388d54587f5dd74cf3bc0663401eba04a8d31b5f169b1a");
  // The library's derivation gives the very same SQLCipher key string.
  BOOST_TEST(original::key_string(passphrase) == "x\"" + passphrase_argon2 + "\"");
  BOOST_TEST(hone_key(passphrase).expose_secret() == original::key_string(passphrase));
}

BOOST_AUTO_TEST_CASE(original_database_is_sqlcipher4_defaults_in_wal_mode, *needs_sqlcipher4(needs4)) {
  original_fixture f;
  BOOST_TEST(!detail::has_plain_header(f.db));
  auto db = original::open(f.db, passphrase);
  BOOST_TEST(count(db.get(), "SELECT count(*) FROM sqlite_master") > 0);
  BOOST_TEST(text(db.get(), "PRAGMA cipher_page_size") == "4096");
  BOOST_TEST(text(db.get(), "PRAGMA kdf_iter") == "256000");
  BOOST_TEST(text(db.get(), "PRAGMA cipher_hmac_algorithm") == "HMAC_SHA512");
  BOOST_TEST(text(db.get(), "PRAGMA cipher_kdf_algorithm") == "PBKDF2_HMAC_SHA512");
  BOOST_TEST(text(db.get(), "PRAGMA journal_mode") == "wal");
  BOOST_TEST(text(db.get(), "PRAGMA foreign_keys") == "1");
  BOOST_TEST(text(db.get(), "PRAGMA synchronous") == "1");  // NORMAL
  BOOST_TEST(count(db.get(), "SELECT count(*) FROM transactions") == 250);
  BOOST_TEST(count(db.get(), "SELECT count(*) FROM subscriptions WHERE status = 'active'") == 4);
  // The key is the x"<hex>" *passphrase*: SQLCipher's raw-key form of the same hex is another key.
  auto as_raw = database_key::raw([] {
    std::array<std::byte, 32> b{};
    for (std::size_t i = 0; i < 32; ++i)
      b[i] = std::byte(static_cast<unsigned char>(std::stoi(passphrase_argon2.substr(2 * i, 2), nullptr, 16)));
    return b;
  }());
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = as_raw;
  BOOST_TEST(sqlcipher_exporter(f.db, o).check(f.db).wrong_key);
}

BOOST_AUTO_TEST_CASE(create_verify_restore_with_hone_key_including_pending_wal, *needs_sqlcipher4(needs4)) {
  for (auto method : {export_method::sqlcipher_export, export_method::backup_api}) {
    BOOST_TEST_CONTEXT("method " << int(method)) {
      original_fixture f;
      // The original keeps running: its connection has committed rows that are still only in
      // the -wal file when the backup is taken.
      auto live = original::open(f.db, passphrase);
      original::exec(live.get(), "PRAGMA wal_autocheckpoint = 0");
      original::add_rows(live.get(),
                         {.accounts = 1, .transactions = 40, .active_subscriptions = 1, .cancelled_subscriptions = 0},
                         "wal");
      BOOST_REQUIRE(fs::file_size(f.db.string() + "-wal") > 0u);
      {
        // The main file alone does not hold them yet.
        scratch_dir only("main-only");
        fs::copy_file(f.db, only / "hone.db");
        auto m = original::open(only / "hone.db", passphrase);
        BOOST_REQUIRE(count(m.get(), "SELECT count(*) FROM transactions") == 250);
      }
      const database_key by_hand = original_key_as_passphrase(passphrase);
      const std::string source = dump(f.db, by_hand);

      auto r = f.runner(hone_key(passphrase), method);
      auto info = r.create();
      BOOST_TEST(info.encrypted);
      BOOST_TEST(info.counts["accounts"].value_or(-1) == 4);
      BOOST_TEST(info.counts["transactions"].value_or(-1) == 290);
      BOOST_TEST(info.counts["subscriptions"].value_or(-1) == 5);
      BOOST_TEST(r.list().at(0).encrypted);
      BOOST_TEST(r.get(info.name).encrypted);

      auto v = r.verify(info.name);
      BOOST_TEST(v.valid, v.message);
      BOOST_TEST(v.encrypted);
      BOOST_TEST(v.counts["accounts"].value_or(-1) == 4);
      BOOST_TEST(v.counts["transactions"].value_or(-1) == 290);
      BOOST_TEST(v.counts["subscriptions"].value_or(-1) == 5);

      // Restored elsewhere: it opens the original's way and holds everything, WAL rows included.
      auto res = r.restore(info.name, f.dir / "restored.db", false);
      BOOST_REQUIRE(res.restored);
      {
        auto db = original::open(res.database, passphrase);
        BOOST_TEST(count(db.get(), "SELECT count(*) FROM transactions WHERE import_hash LIKE 'hash-wal-%'") == 40);
        BOOST_TEST(text(db.get(), "PRAGMA cipher_page_size") == "4096");
        BOOST_TEST(text(db.get(), "PRAGMA integrity_check") == "ok");
        BOOST_TEST(text(db.get(), "PRAGMA foreign_key_check").empty());
      }
      BOOST_TEST(dump(res.database, by_hand) == source);

      // Restored over the live database (the original stopped first).
      live.reset();
      {
        auto db = original::open(f.db, passphrase);
        original::exec(db.get(), "DELETE FROM transactions WHERE id > 100");
      }
      auto over = r.restore(info.name, f.db, true);
      BOOST_TEST(fs::exists(over.pre_restore_copy));
      BOOST_TEST(dump(f.db, by_hand) == source);
      BOOST_TEST(dump(over.pre_restore_copy, by_hand) != source);
      // The original, reopening it, carries on in WAL mode.
      auto db = original::open(f.db, passphrase);
      original::exec(db.get(), "PRAGMA journal_mode = WAL");
      original::add_rows(db.get(),
                         {.accounts = 0, .transactions = 1, .active_subscriptions = 0, .cancelled_subscriptions = 0},
                         "after");
      BOOST_TEST(count(db.get(), "SELECT count(*) FROM transactions") == 291);
    }
  }
}

BOOST_AUTO_TEST_CASE(wrong_passphrase_is_refused, *needs_sqlcipher4(needs4)) {
  original_fixture f;
  auto good = f.runner(hone_key(passphrase));
  auto info = good.create();
  const auto before = read_file(f.db);
  for (auto& key : {hone_key("not the passphrase"), database_key::passphrase(passphrase)}) {
    auto r = f.runner(key);
    auto v = r.verify(info.name);
    BOOST_TEST(!v.valid);
    BOOST_TEST(v.message.find("different key") != std::string::npos, v.message);
    BOOST_CHECK_THROW(r.restore(info.name, f.db, true), encryption_error);
    BOOST_CHECK_THROW(r.create(), encryption_error);
  }
  BOOST_TEST((read_file(f.db) == before));
}

BOOST_AUTO_TEST_CASE(backup_read_by_the_original_and_by_hand, *needs_sqlcipher4(needs4)) {
  original_fixture f;
  auto r = f.runner(hone_key(passphrase));
  auto info = r.create();
  const std::string source = dump(f.db, original_key_as_passphrase(passphrase));

  // The original's reader: first gzip member only, written out as the database.
  write_file(f.dir / "by-original.db", original::gunzip_first_member(read_file(f.backups / info.name)));
  {
    auto db = original::open(f.dir / "by-original.db", passphrase);
    BOOST_TEST(count(db.get(), "SELECT count(*) FROM transactions") == 250);
  }
  BOOST_TEST(dump(f.dir / "by-original.db", original_key_as_passphrase(passphrase)) == source);

  // By hand, as docs/Compatibility.md says: gunzip -k, then PRAGMA key = 'x"<hex>"'; typed as SQL.
  BOOST_REQUIRE(std::system(("gunzip -k '" + (f.backups / info.name).string() + "'").c_str()) == 0);
  fs::path unpacked = f.backups / info.name;
  unpacked.replace_extension();  // drop .gz
  sqlite3* raw = nullptr;
  BOOST_REQUIRE(sqlite3_open_v2(unpacked.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  original::connection db(raw);
  original::exec(raw, "PRAGMA key = 'x\"" + original::derive_hex(passphrase) + "\"'");
  BOOST_TEST(count(raw, "SELECT COUNT(*) FROM transactions") == 250);
  BOOST_TEST(text(raw, "PRAGMA cipher_integrity_check").empty());
}

BOOST_AUTO_TEST_CASE(original_database_needs_no_migration, *needs_sqlcipher4(needs4)) {
  original_fixture f;
  const auto before = read_file(f.db);
  auto m = migrate_to_v4(f.db, hone_key(passphrase));
  BOOST_TEST(!m.migrated);
  BOOST_TEST(m.from_version == 4);
  BOOST_TEST(m.pre_migrate_copy.empty());
  BOOST_TEST((read_file(f.db) == before));
}

BOOST_AUTO_TEST_CASE(original_database_is_not_readable_by_sqlcipher3_shell, *needs_sqlcipher4(needs4)) {
  // docs/Compatibility.md, checked: Debian's SQLCipher 3.4.1 cannot open the original's files.
  original_fixture f;
  const fs::path out = f.dir / ".shell-out";
  const std::string cmd = "sqlcipher -batch -bail '" + f.db.string() + "' > '" + out.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "w");
  BOOST_REQUIRE(p);
  const std::string input =
      "PRAGMA key = '" + original::key_string(passphrase) + "';\nSELECT count(*) FROM transactions;\n";
  std::fwrite(input.data(), 1, input.size(), p);
  int st = ::pclose(p);
  auto o = read_file(out);
  std::string text_out(o.begin(), o.end());
  BOOST_TEST(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), text_out);
  BOOST_TEST(text_out.find("not a database") != std::string::npos, text_out);
}

BOOST_AUTO_TEST_SUITE_END()
