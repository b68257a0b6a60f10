// Compatibility: backups read by the original's first-member-only gzip reader; databases
// written by the real SQLCipher 3.4.1 `sqlcipher` shell, backed up, verified and restored by
// whichever SQLCipher this build links, and upgraded with migrate_to_v4; plain databases give
// plain backups and `encrypted` always describes the file.
#include <boost/test/unit_test.hpp>

#include "support/hone_original.hpp"
#include "support/testdb.hpp"

#include <cstdio>
#include <set>

#include <sys/stat.h>
#include <sys/wait.h>

using namespace hone_test;

namespace {

using disk_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;
using id_runner = BackupRunner<sqlcipher_exporter, identity_compressor, local_directory, fake_clock>;

runner_options temp_in(const scratch_dir& d) {
  runner_options ro;
  ro.temp_directory = d.path();
  return ro;
}

sqlcipher_exporter exporter_for(const fs::path& db, const database_key& key,
                                export_method m = export_method::sqlcipher_export) {
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = key;
  o.method = m;
  return sqlcipher_exporter(db, o);
}

std::string single_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// ---- Debian's SQLCipher 3.4.1 shell ----------------------------------------------------------

struct shell_result {
  int status = -1;
  std::string out;
};

/// Runs the `sqlcipher` command (Debian's SQLCipher 3.4.1 shell) on `db`. The key is typed on
/// its stdin as `PRAGMA key = '...';` (never on a command line), followed by `sql`.
shell_result sqlcipher3(const fs::path& db, const std::string& key, const std::string& sql) {
  static std::atomic<int> n{0};
  const fs::path out = db.parent_path() / (".shell-out-" + std::to_string(n++));
  std::string path = db.string(), q = "'";
  for (char c : path) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  q += "'";
  const std::string cmd = "sqlcipher -batch -bail " + q + " > '" + out.string() + "' 2>&1";
  shell_result r;
  FILE* p = ::popen(cmd.c_str(), "w");
  BOOST_REQUIRE_MESSAGE(p, "cannot run the sqlcipher command");
  std::string input;
  if (!key.empty()) input += "PRAGMA key = " + single_quoted(key) + ";\n";
  input += sql + "\n.quit\n";
  std::fwrite(input.data(), 1, input.size(), p);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto bytes = read_file(out);
  r.out.assign(bytes.begin(), bytes.end());
  fs::remove(out);
  return r;
}

void require_sqlcipher3_shell() {
  static const bool ok = [] {
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen("sqlcipher -version 2>&1", "r"), ::pclose);
    char buf[256] = {};
    return p && std::fgets(buf, sizeof buf, p.get()) && std::string(buf).rfind("3.", 0) == 0;
  }();
  BOOST_REQUIRE_MESSAGE(ok, "these tests need Debian's `sqlcipher` command (SQLCipher 3.x shell)");
}

/// The shell's .dump of a database: schema and every row, as SQLCipher 3.4.1 reads them.
std::string shell_dump(const fs::path& db, const std::string& key) {
  auto r = sqlcipher3(db, key, ".dump");
  BOOST_REQUIRE_MESSAGE(r.status == 0, "sqlcipher .dump failed: " << r.out);
  return r.out;
}

std::string shell_value(const fs::path& db, const std::string& key, const std::string& sql) {
  auto r = sqlcipher3(db, key, sql);
  BOOST_REQUIRE_MESSAGE(r.status == 0, "sqlcipher failed on " << sql << ": " << r.out);
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r.out;
}

constexpr int v3_accounts = 2, v3_transactions = 300, v3_active_subscriptions = 2;

/// A database written by the SQLCipher 3.4.1 shell with its default settings: the Hone
/// tables, an AUTOINCREMENT table, an index, a view, a trigger and a user_version.
void make_v3_db(const fs::path& db, const std::string& key) {
  require_sqlcipher3_shell();
  std::string sql = std::string("PRAGMA user_version = 7;\n") + hone_schema() + R"sql(
    CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT);
    CREATE INDEX idx_tx_date ON transactions(date);
    CREATE VIEW active_subscriptions AS SELECT * FROM subscriptions WHERE status = 'active';
    CREATE TRIGGER tx_audit AFTER INSERT ON transactions BEGIN INSERT INTO audit(note) VALUES ('tx ' || NEW.id); END;
    INSERT INTO accounts(name, bank, account_type) VALUES ('Checking', 'Bank O''Neil', 'checking'),
                                                          ('Savings', 'Credit Union', 'savings');
    INSERT INTO transactions(account_id, date, description, amount, category, import_hash)
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
      SELECT 1 + i % 2, date('2016-01-01', '+' || (i % 365) || ' days'), 'PURCHASE #' || i || ' ' || hex(i * 7919),
             -(i % 97) - 0.5, 'misc', 'h' || i FROM n;
    INSERT INTO subscriptions(merchant, amount, frequency, status) VALUES ('Paper', 9.99, 'monthly', 'active'),
      ('Music', 5, 'monthly', 'active'), ('Gym', 30, 'monthly', 'cancelled');
  )sql";
  auto r = sqlcipher3(db, key, sql);
  BOOST_REQUIRE_MESSAGE(r.status == 0 && fs::exists(db), "sqlcipher could not create the v3 database: " << r.out);
  BOOST_REQUIRE(!detail::has_plain_header(db));
}

/// Dump through the library, detecting the SQLCipher generation like the exporter does.
std::string dump_detect(const fs::path& p, const database_key& key, int* compat = nullptr) {
  auto o = detail::open_and_probe(p, SQLITE_OPEN_READONLY, key, 1000);
  if (compat) *compat = o.compatibility;
  std::vector<std::string> tables;
  {
    detail::statement s(o.db.get(), "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
    while (s.step()) tables.push_back(s.column_text(0));
  }
  std::string out;
  {
    detail::statement s(o.db.get(), "PRAGMA user_version");
    s.step();
    out = "user_version=" + s.column_text(0) + "\n";
  }
  for (auto& t : tables) {
    out += "## " + t + "\n";
    detail::statement s(o.db.get(), "SELECT * FROM \"" + t + "\" ORDER BY rowid");
    int n = sqlite3_column_count(s.get());
    while (s.step()) {
      for (int i = 0; i < n; ++i) out += (i ? "|" : "") + s.column_text(i);
      out += "\n";
    }
  }
  return out;
}

bool starts_with_plain_header(const std::vector<char>& b) {
  return b.size() >= 16 && std::memcmp(b.data(), "SQLite format 3", 16) == 0;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> s;
  for (auto& e : fs::directory_iterator(dir)) s.insert(e.path().filename().string());
  return s;
}

std::array<std::byte, 32> raw_bytes_v3() {
  std::array<std::byte, 32> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(0xA0 + i));
  return b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compat)

// ---- the original's reader --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(first_member_reader_restores_our_backups) {
  gzip_options small_blocks;
  small_blocks.block_size = 64 * 1024;  // many parallel blocks joined into the one member
  small_blocks.threads = 2;
  for (bool encrypted : {true, false})
    for (auto gz_opts : {gzip_options{}, small_blocks}) {
      BOOST_TEST_CONTEXT("encrypted=" << encrypted << " block_size=" << gz_opts.block_size) {
        scratch_dir dir("first-member");
        const auto db = dir / "hone.db";
        const database_key key = encrypted ? test_key() : database_key::none();
        make_hone_db(db, key, {.accounts = 4, .transactions = 6000, .subscriptions = 3});
        disk_runner r(exporter_for(db, key), gzip_compressor(gz_opts), local_directory(dir / "backups"), fake_clock{},
                      temp_in(dir));
        auto info = r.create();
        const auto gz = read_file(dir / "backups" / info.name);

        const auto decoded = original::gunzip_first_member(gz);
        BOOST_TEST(decoded.size() > 200u * 1024u);  // several blocks of the parallel compressor
        // The full reader yields exactly the same bytes: nothing lies beyond the first member.
        std::vector<char> full;
        {
          span_reader in(std::as_bytes(std::span(gz)));
          buffer_writer<std::vector<char>> out(full);
          gzip_compressor{}.decompress(in, out, {});
        }
        BOOST_TEST((decoded == full));
        BOOST_TEST(starts_with_plain_header(decoded) == !encrypted);

        // Restored the original's way (decode, write the file), it opens and dumps identically.
        const auto restored = dir / "restored-by-original.db";
        write_file(restored, decoded);
        BOOST_TEST(dump(restored, key) == dump(db, key));
        auto c = exporter_for(restored, key).check(restored);
        BOOST_TEST(c.valid, c.message);
        BOOST_TEST(c.counts["transactions"].value_or(-1) == 6000);
      }
    }
}

BOOST_AUTO_TEST_CASE(first_member_reader_truncates_a_two_member_file) {
  // Proves the test decoder is faithful to the original's: given two members, it returns the
  // first only, while our reader returns both.
  scratch_dir dir("two-members");
  const auto db = dir / "plain.db";
  make_hone_db(db, database_key::none(), {.transactions = 3000});
  const auto bytes = read_file(db);
  const std::size_t half = bytes.size() / 2;
  auto member = [](std::span<const char> part) {
    std::vector<char> gz;
    span_reader in(std::as_bytes(part));
    buffer_writer<std::vector<char>> out(gz);
    gzip_compressor{}.compress(in, out, {});
    return gz;
  };
  auto two = member(std::span(bytes).first(half));
  auto second = member(std::span(bytes).subspan(half));
  two.insert(two.end(), second.begin(), second.end());

  const auto first_only = original::gunzip_first_member(two);
  BOOST_TEST(first_only.size() == half);
  BOOST_TEST((first_only == std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(half))));

  std::vector<char> all;
  span_reader in(std::as_bytes(std::span(two)));
  buffer_writer<std::vector<char>> out(all);
  gzip_compressor{}.decompress(in, out, {});
  BOOST_TEST((all == bytes));

  // And our verify reads such a file whole, so it is valid for us (the original would not be).
  fs::create_directories(dir / "backups");
  write_file(dir / "backups" / "two-members.db.gz", two);
  disk_runner r(exporter_for(db, database_key::none()), gzip_compressor{}, local_directory(dir / "backups"),
                fake_clock{}, temp_in(dir));
  auto v = r.verify("two-members.db.gz");
  BOOST_TEST(v.valid, v.message);
  // ...whereas the first member alone is a truncated database.
  write_file(dir / "truncated.db", first_only);
  BOOST_TEST(!exporter_for(dir / "truncated.db", database_key::none()).check(dir / "truncated.db").valid);
}

// ---- `encrypted` reflects the file -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(plain_database_gives_plain_backup_and_encrypted_reflects_the_file) {
  for (int variant : {0, 1, 2}) {
    // 0: plain database, no key; 1: plain database although a key is configured;
    // 2: encrypted database.
    BOOST_TEST_CONTEXT("variant " << variant) {
      scratch_dir dir("encrypted-flag");
      const auto db = dir / "hone.db";
      const bool encrypted = variant == 2;
      make_hone_db(db, encrypted ? test_key() : database_key::none(), {.transactions = 500});
      const database_key configured = variant == 0 ? database_key::none() : test_key();
      disk_runner r(exporter_for(db, configured), gzip_compressor{}, local_directory(dir / "backups"), fake_clock{},
                    temp_in(dir));
      auto info = r.create();
      BOOST_TEST(info.encrypted == encrypted);
      const auto decoded = original::gunzip_first_member(read_file(dir / "backups" / info.name));
      BOOST_TEST(starts_with_plain_header(decoded) == !encrypted);
      auto listed = r.list();
      BOOST_REQUIRE(listed.size() == 1u);
      BOOST_TEST(listed[0].encrypted == encrypted);
      BOOST_TEST(listed[0].problem.empty());
      BOOST_TEST(r.get(info.name).encrypted == encrypted);
      auto v = r.verify(info.name);
      BOOST_TEST(v.valid, v.message);
      BOOST_TEST(v.encrypted == encrypted);
      BOOST_TEST(v.counts["transactions"].value_or(-1) == 500);
      // Restored, it is still plain (or still encrypted); a plain backup is not restored while a
      // key is configured: that would leave an unencrypted database where an encrypted one is
      // expected.
      if (variant == 1) {
        BOOST_CHECK_THROW(r.restore(info.name, dir / "restored.db", false), unencrypted_backup_error);
        BOOST_TEST(!fs::exists(dir / "restored.db"));
      } else {
        auto res = r.restore(info.name, dir / "restored.db", false);
        BOOST_TEST(detail::has_plain_header(res.database) == !encrypted);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(user_version_and_application_id_survive_backup_and_restore) {
  // sqlcipher_export() alone does not copy them; applications keep their schema version there.
  for (bool encrypted : {true, false})
    for (auto method : {export_method::sqlcipher_export, export_method::backup_api}) {
      BOOST_TEST_CONTEXT("encrypted=" << encrypted << " method=" << int(method)) {
        scratch_dir dir("header-values");
        const auto db = dir / "hone.db";
        const database_key key = encrypted ? test_key() : database_key::none();
        make_hone_db(db, key, {.transactions = 20});
        {
          auto h = open_rw(db, key);
          detail::exec(h.get(), "PRAGMA user_version = 42");
          detail::exec(h.get(), "PRAGMA application_id = 1213158981");  // 'HONE'
        }
        disk_runner r(exporter_for(db, key, method), gzip_compressor{}, local_directory(dir / "backups"), fake_clock{},
                      temp_in(dir));
        auto res = r.restore(r.create().name, dir / "restored.db", false);
        auto h = detail::open_database(res.database, SQLITE_OPEN_READONLY, key);
        detail::statement uv(h.get(), "PRAGMA user_version");  // no pragma_* functions in SQLite 3.15
        BOOST_REQUIRE(uv.step());
        BOOST_TEST(uv.column_int(0) == 42);
        detail::statement aid(h.get(), "PRAGMA application_id");
        BOOST_REQUIRE(aid.step());
        BOOST_TEST(aid.column_int(0) == 1213158981);
      }
    }
}

// ---- databases written by SQLCipher 3 ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(sqlcipher3_database_backup_verify_restore) {
  // Passphrase and raw key, each with both export methods.
  const std::string hex_raw = [] {
    std::string s;
    for (auto b : raw_bytes_v3()) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(b));
      s += buf;
    }
    return s;
  }();
  struct key_case {
    const char* what;
    std::string shell_key;  // what is typed after PRAGMA key =
    database_key key;
  };
  const std::vector<key_case> keys = {
      {"passphrase", "v3 pass'phrase", database_key::passphrase("v3 pass'phrase")},
      {"raw key", "x'" + hex_raw + "'", database_key::raw(raw_bytes_v3())},
  };
  for (auto& k : keys)
    for (auto method : {export_method::sqlcipher_export, export_method::backup_api}) {
      BOOST_TEST_CONTEXT(k.what << ", method " << int(method)) {
        scratch_dir dir("v3");
        const auto db = dir / "v3.db";
        make_v3_db(db, k.shell_key);
        const std::string source_dump = shell_dump(db, k.shell_key);
        BOOST_TEST(source_dump.find("INSERT INTO \"transactions\"") != std::string::npos);
        int compat = -1;
        const std::string source_lib_dump = dump_detect(db, k.key, &compat);
        // SQLCipher 4 needs cipher_compatibility = 3 for this file; SQLCipher 3 reads it natively.
        BOOST_TEST(compat == (detail::sqlcipher_major() >= 4 ? 3 : 0));

        disk_runner r(exporter_for(db, k.key, method), gzip_compressor{}, local_directory(dir / "backups"),
                      fake_clock{}, temp_in(dir));
        auto info = r.create();
        BOOST_TEST(info.encrypted);
        BOOST_TEST(info.counts["accounts"].value_or(-1) == v3_accounts);
        BOOST_TEST(info.counts["transactions"].value_or(-1) == v3_transactions);
        BOOST_TEST(info.counts["subscriptions"].value_or(-1) == v3_active_subscriptions);
        BOOST_TEST(r.list().at(0).encrypted);

        auto v = r.verify(info.name);
        BOOST_TEST(v.valid, v.message);
        BOOST_TEST(v.encrypted);
        BOOST_TEST(v.counts["transactions"].value_or(-1) == v3_transactions);

        // Restore to a new file: still SQLCipher 3 format (the 3.4.1 shell opens it, with
        // v3's 1024-byte pages), same content, same user_version.
        auto res = r.restore(info.name, dir / "restored.db", false);
        BOOST_REQUIRE(res.restored);
        BOOST_TEST(shell_dump(res.database, k.shell_key) == source_dump);
        BOOST_TEST(shell_value(res.database, k.shell_key, "PRAGMA user_version;") == "7");
        BOOST_TEST(shell_value(res.database, k.shell_key, "PRAGMA page_size;") == "1024");
        BOOST_TEST(shell_value(res.database, k.shell_key, "PRAGMA cipher_integrity_check; PRAGMA integrity_check;") ==
                   "ok");
        BOOST_TEST(dump_detect(res.database, k.key) == source_lib_dump);
        if (detail::sqlcipher_major() >= 4) {
          // Not SQLCipher 4 format: 4.x defaults cannot read it.
          BOOST_CHECK_THROW(detail::open_and_probe(res.database, SQLITE_OPEN_READONLY, k.key, 100, 4),
                            encryption_error);
        }

        // Restore over the source (force): the shell still opens it, the content is unchanged,
        // and the old file is kept.
        auto over = r.restore(info.name, db, true);
        BOOST_TEST(fs::exists(over.pre_restore_copy));
        BOOST_TEST(shell_dump(db, k.shell_key) == source_dump);
        BOOST_TEST(shell_dump(over.pre_restore_copy, k.shell_key) == source_dump);
      }
    }
}

BOOST_AUTO_TEST_CASE(sqlcipher3_export_target_is_v3_with_both_methods) {
  scratch_dir dir("v3-export");
  const auto db = dir / "v3.db";
  const std::string pass = "export-v3";
  make_v3_db(db, pass);
  const std::string source_dump = shell_dump(db, pass);
  for (auto method : {export_method::sqlcipher_export, export_method::backup_api}) {
    BOOST_TEST_CONTEXT("method " << int(method)) {
      const auto target = dir / ("copy-" + std::to_string(int(method)) + ".db");
      auto e = exporter_for(db, database_key::passphrase(pass), method);
      auto res = e.export_to(target, {});
      BOOST_TEST(res.encrypted);
      BOOST_TEST(res.counts["transactions"].value_or(-1) == v3_transactions);
      BOOST_TEST(!detail::has_plain_header(target));
      BOOST_TEST(shell_dump(target, pass) == source_dump);
      BOOST_TEST(shell_value(target, pass, "PRAGMA page_size;") == "1024");
      BOOST_TEST(shell_value(target, pass, "PRAGMA journal_mode;") == "delete");
      auto c = e.check(target);
      BOOST_TEST(c.valid, c.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(sqlcipher3_export_with_forced_compatibility) {
  // cipher_compatibility = 3 given explicitly (no detection) works the same.
  scratch_dir dir("v3-forced");
  const auto db = dir / "v3.db";
  make_v3_db(db, "forced");
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = database_key::passphrase("forced");
  o.cipher_compatibility = detail::sqlcipher_major() >= 4 ? 3 : 0;
  sqlcipher_exporter e(db, o);
  e.export_to(dir / "copy.db", {});
  BOOST_TEST(shell_dump(dir / "copy.db", "forced") == shell_dump(db, "forced"));
  BOOST_TEST(e.check(dir / "copy.db").valid);
  // The wrong key is still a wrong key with detection on.
  o.key = database_key::passphrase("not it");
  o.cipher_compatibility = 0;
  auto c = sqlcipher_exporter(db, o).check(db);
  BOOST_TEST(!c.valid);
  BOOST_TEST(c.wrong_key);
}

BOOST_AUTO_TEST_CASE(sqlcipher3_backup_check_runs_cipher_integrity_check,
                     *needs_sqlcipher4("PRAGMA cipher_integrity_check first appeared in SQLCipher 4.0")) {
  scratch_dir dir("v3-cic");
  const auto db = dir / "v3.db";
  make_v3_db(db, "cic");
  const auto key = database_key::passphrase("cic");
  // Identity "compression", so that a flipped byte lands in a database page.
  id_runner r(exporter_for(db, key), identity_compressor{}, local_directory(dir / "backups"), fake_clock{},
              temp_in(dir));
  auto info = r.create("v3");
  auto good = r.verify(info.name);
  BOOST_TEST(good.valid, good.message);  // no false alarm with v3 settings (1024-byte pages, SHA1 HMAC)

  auto bytes = read_file(dir / "backups" / info.name);
  BOOST_REQUIRE(bytes.size() > 20 * 1024u);
  const std::size_t page = 1024, victim = bytes.size() / page / 2;  // a data page, not the schema
  bytes[victim * page + 100] ^= 0x40;
  write_file(dir / "backups" / "flipped.db", bytes);
  auto bad = r.verify("flipped.db");
  BOOST_TEST(!bad.valid);
  BOOST_TEST(bad.message.rfind("cipher_integrity_check failed:", 0) == 0, bad.message);
  BOOST_TEST(bad.message.find("page " + std::to_string(victim + 1)) != std::string::npos, bad.message);
}

// ---- migrate_to_v4 -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(migrate_sqlcipher3_database_with_pending_wal,
                     *needs_sqlcipher4("PRAGMA cipher_migrate and the SQLCipher 4 format need SQLCipher 4")) {
  scratch_dir dir("migrate");
  const auto src = dir / "v3.db";
  const std::string pass = "migrate me";
  const auto key = database_key::passphrase(pass);
  make_v3_db(src, pass);
  BOOST_REQUIRE(shell_value(src, pass, "PRAGMA journal_mode = WAL;") == "wal");

  // Rows that are still only in the -wal file: copy the files while a writer holds them, as
  // a crash would leave them.
  const auto db = dir / "hone.db";
  {
    auto live = detail::open_and_probe(src, SQLITE_OPEN_READWRITE, key, 1000);
    BOOST_REQUIRE(live.compatibility == 3);
    detail::exec(live.db.get(), "PRAGMA wal_autocheckpoint = 0");
    detail::exec(live.db.get(), "INSERT INTO accounts(name, bank) VALUES ('only in the wal', 'x')");
    BOOST_REQUIRE(fs::file_size(src.string() + "-wal") > 0u);
    fs::copy_file(src, db);
    fs::copy_file(src.string() + "-wal", db.string() + "-wal");
  }
  fs::permissions(db, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const std::string before = dump_detect(db, key);
  BOOST_REQUIRE(before.find("only in the wal") != std::string::npos);
  const auto dir_before = files_in(dir.path());

  migrate_options mo;
  mo.now = fake_clock{}.now();
  auto m = migrate_to_v4(db, key, mo);
  BOOST_TEST(m.migrated);
  BOOST_TEST(m.from_version == 3);
  BOOST_TEST(m.database == fs::canonical(db));
  BOOST_TEST(m.pre_migrate_copy == db.string() + ".pre-migrate-2024-01-15-143022");
  BOOST_TEST(m.message.find(m.pre_migrate_copy.string()) != std::string::npos);

  // Now SQLCipher 4 format: opens with 4's defaults, not with the 3.4.1 shell.
  int compat = -1;
  BOOST_TEST(dump_detect(db, key, &compat) == before);
  BOOST_TEST(compat == 0);
  {
    auto o = detail::open_and_probe(db, SQLITE_OPEN_READONLY, key, 1000, 4);
    detail::statement s(o.db.get(), "PRAGMA cipher_page_size");
    BOOST_REQUIRE(s.step());
    BOOST_TEST(s.column_text(0) == "4096");
    detail::statement j(o.db.get(), "PRAGMA journal_mode");
    BOOST_REQUIRE(j.step());
    BOOST_TEST(j.column_text(0) == "wal");  // kept the source's journal mode
  }
  BOOST_TEST(sqlcipher3(db, pass, "SELECT count(*) FROM accounts;").status != 0);
  struct stat st {};
  BOOST_REQUIRE(::stat(db.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0640u);  // the original's permissions
  // The original is kept untouched, still v3 (with its -wal), and no temp file is left.
  BOOST_TEST(dump_detect(m.pre_migrate_copy, key) == before);
  BOOST_TEST(shell_value(m.pre_migrate_copy, pass, "SELECT count(*) FROM accounts;") == "3");
  for (auto& f : files_in(dir.path()))
    BOOST_TEST(
        (dir_before.count(f) || f.rfind("hone.db.pre-migrate-", 0) == 0 || f == "hone.db-wal" || f == "hone.db-shm"),
        "unexpected file " << f);

  // A backup of the migrated database works, and a second migration has nothing to do.
  disk_runner r(exporter_for(db, key), gzip_compressor{}, local_directory(dir / "backups"), fake_clock{}, temp_in(dir));
  auto info = r.create();
  BOOST_TEST(r.verify(info.name).valid);
  auto again = migrate_to_v4(db, key, mo);
  BOOST_TEST(!again.migrated);
  BOOST_TEST(again.from_version == 4);
  BOOST_TEST(again.pre_migrate_copy.empty());
  BOOST_TEST(dump_detect(db, key) == before);
}

BOOST_AUTO_TEST_CASE(migrate_wrong_key_or_busy_database_changes_nothing,
                     *needs_sqlcipher4("PRAGMA cipher_migrate needs SQLCipher 4")) {
  scratch_dir dir("migrate-fail");
  const auto db = dir / "v3.db";
  make_v3_db(db, "right");
  const auto bytes = read_file(db);
  const auto listing = files_in(dir.path());
  BOOST_CHECK_THROW(migrate_to_v4(db, database_key::passphrase("wrong")), encryption_error);
  BOOST_CHECK_THROW(migrate_to_v4(db, database_key::none()), encryption_error);
  BOOST_TEST((read_file(db) == bytes));
  BOOST_TEST((files_in(dir.path()) == listing));

  // Another connection is in a write transaction: we wait, then give up with database_busy.
  auto writer = detail::open_and_probe(db, SQLITE_OPEN_READWRITE, database_key::passphrase("right"), 1000);
  detail::exec(writer.db.get(), "BEGIN IMMEDIATE");
  migrate_options mo;
  mo.busy_timeout_ms = 200;
  try {
    migrate_to_v4(db, database_key::passphrase("right"), mo);
    BOOST_FAIL("expected database_busy_error");
  } catch (const hone::backup::error& e) {
    BOOST_TEST(e.code() == errc::database_busy, e.what());
  }
  detail::exec(writer.db.get(), "ROLLBACK");
  writer.db.reset();
  BOOST_TEST((read_file(db) == bytes));
  BOOST_TEST((files_in(dir.path()) == listing));
}

BOOST_AUTO_TEST_CASE(migrate_through_a_symbolic_link, *needs_sqlcipher4("PRAGMA cipher_migrate needs SQLCipher 4")) {
  scratch_dir dir("migrate-link");
  fs::create_directories(dir / "data");
  make_v3_db(dir / "data" / "real.db", "linked");
  fs::create_symlink(dir / "data" / "real.db", dir / "link.db");
  const auto key = database_key::passphrase("linked");
  const std::string before = dump_detect(dir / "link.db", key);
  auto m = migrate_to_v4(dir / "link.db", key);
  BOOST_TEST(m.migrated);
  BOOST_TEST(m.database == fs::canonical(dir / "data" / "real.db"));
  BOOST_TEST(m.pre_migrate_copy.parent_path() == m.database.parent_path());
  BOOST_TEST(fs::is_symlink(dir / "link.db"));  // the link is kept and points at the upgraded file
  int compat = -1;
  BOOST_TEST(dump_detect(dir / "link.db", key, &compat) == before);
  BOOST_TEST(compat == 0);
}

BOOST_AUTO_TEST_CASE(migrate_plain_missing_and_what_this_build_can_do) {
  scratch_dir dir("migrate-misc");
  make_hone_db(dir / "plain.db", database_key::none(), {.transactions = 10});
  const auto bytes = read_file(dir / "plain.db");
  auto m = migrate_to_v4(dir / "plain.db", test_key());
  BOOST_TEST(!m.migrated);
  BOOST_TEST(m.from_version == 0);
  BOOST_TEST((read_file(dir / "plain.db") == bytes));
  try {
    migrate_to_v4(dir / "missing.db", test_key());
    BOOST_FAIL("expected database_not_found_error");
  } catch (const database_not_found_error& e) {
    BOOST_TEST(std::string(e.what()) == "Database not found: " + (dir / "missing.db").string());
  }
  if (detail::sqlcipher_major() < 4) {
    // A SQLCipher 3 build refuses clearly instead of half-doing it.
    make_v3_db(dir / "v3.db", "k");
    try {
      migrate_to_v4(dir / "v3.db", database_key::passphrase("k"));
      BOOST_FAIL("expected database_error");
    } catch (const database_error& e) {
      BOOST_TEST(std::string(e.what()).find("needs SQLCipher 4") != std::string::npos, e.what());
    }
  }
}

BOOST_AUTO_TEST_CASE(sqlcipher3_build_names_the_version_problem_for_v4_files) {
  // On a SQLCipher 3 build a SQLCipher 4 file cannot be opened; the message says why. On a
  // SQLCipher 4 build a wrong key is just a wrong key.
  scratch_dir dir("v4-on-v3");
  make_hone_db(dir / "db", database_key::passphrase("k"), {.transactions = 3});
  auto c = exporter_for(dir / "db", database_key::passphrase("other")).check(dir / "db");
  BOOST_TEST(!c.valid);
  BOOST_TEST(c.wrong_key);
  BOOST_TEST((c.message.find("SQLCipher 4") != std::string::npos) == (detail::sqlcipher_major() == 3), c.message);
}

BOOST_AUTO_TEST_SUITE_END()
