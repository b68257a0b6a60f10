// BackupRunner end to end on real SQLCipher files: create, list, get, verify, restore, prune.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <algorithm>
#include <set>
#include <sys/stat.h>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

using disk_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;
using mem_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, memory_destination, fake_clock>;

struct fixture {
  scratch_dir dir{"runner"};
  fs::path db = dir / "hone.db";
  fs::path backups = dir / "backups";
  fake_clock clock;

  sqlcipher_exporter exporter(const database_key& key, export_method m = export_method::sqlcipher_export,
                              check_level check = check_level::full) {
    sqlcipher_exporter::options o;
    o.counts = hone_test::hone_count_queries();
    o.key = key;
    o.method = m;
    o.check = check;
    return sqlcipher_exporter(db, o);
  }
  /// check() of the live database itself, at a check level.
  check_result check_db(const database_key& key, check_level level) {
    return exporter(key, export_method::sqlcipher_export, level).check(db);
  }
  runner_options ropts() {
    runner_options ro;
    ro.temp_directory = dir.path();
    return ro;
  }
  disk_runner make(const database_key& key, export_method m = export_method::sqlcipher_export) {
    return disk_runner(exporter(key, m), gzip_compressor{}, local_directory(backups), clock, ropts());
  }
  mem_runner make_mem(const database_key& key, memory_destination dest = {}) {
    dest.modified_time = [c = clock]() mutable { return c.now(); };
    return mem_runner(exporter(key), gzip_compressor{}, dest, clock, ropts());
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
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

}  // namespace

BOOST_AUTO_TEST_SUITE(runner)

BOOST_AUTO_TEST_CASE(create_verify_restore_roundtrip_matrix) {
  for (bool encrypted : {true, false})
    for (bool wal : {true, false})
      for (auto method : {export_method::automatic, export_method::sqlcipher_export, export_method::backup_api}) {
        BOOST_TEST_CONTEXT("encrypted=" << encrypted << " wal=" << wal << " method=" << int(method)) {
          fixture f;
          database_key key = encrypted ? test_key() : database_key::none();
          make_hone_db(f.db, key, {.accounts = 5, .transactions = 1234, .subscriptions = 12, .wal = wal});
          const std::string before = dump(f.db, key);
          auto r = f.make(key, method);

          auto info = r.create();
          BOOST_TEST(info.name == "backup-2024-01-15-143022.db.gz");
          BOOST_TEST(info.encrypted == encrypted);
          BOOST_TEST(info.counts["accounts"].value_or(-1) == 5);
          BOOST_TEST(info.counts["transactions"].value_or(-1) == 1234);
          BOOST_TEST(info.counts["subscriptions"].value_or(-1) == 12);
          BOOST_TEST(info.size > 0u);
          BOOST_TEST(info.path == (f.backups / info.name).string());
          BOOST_TEST(mode_of(f.backups / info.name) == 0600u);
          BOOST_TEST(mode_of(f.backups) == 0700u);
          BOOST_TEST(fs::file_size(f.backups / info.name) == info.size);

          auto listed = r.list();
          BOOST_REQUIRE(listed.size() == 1u);
          BOOST_TEST(listed[0].encrypted == encrypted);
          BOOST_TEST(listed[0].compressed == info.compressed);
          BOOST_TEST(iso8601(listed[0].created_at) == "2024-01-15T14:30:22Z");

          auto v = r.verify(info.name);
          BOOST_TEST(v.valid, v.message);
          BOOST_TEST(v.message == "Backup verified successfully");
          BOOST_TEST(v.counts["accounts"].value_or(-1) == 5);
          BOOST_TEST(v.counts["transactions"].value_or(-1) == 1234);

          // Change the live database, then restore over it.
          {
            auto db = open_rw(f.db, key);
            detail::exec(db.get(), "DELETE FROM transactions WHERE id > 10");
          }
          BOOST_TEST(dump(f.db, key) != before);
          auto res = r.restore(info.name, f.db, true);
          BOOST_TEST(res.restored);
          BOOST_TEST(res.message == "Database restored successfully.");
          BOOST_TEST(dump(f.db, key) == before);
          BOOST_TEST(!fs::exists(f.db.string() + "-wal"));
          BOOST_TEST(fs::exists(res.pre_restore_copy));
          BOOST_TEST(detail::has_plain_header(f.db) == !encrypted);
        }
      }
}

BOOST_AUTO_TEST_CASE(passphrase_key_roundtrip) {
  fixture f;
  auto key = database_key::passphrase("correct horse battery staple");
  make_hone_db(f.db, key, {.transactions = 20});
  auto r = f.make(key);
  auto info = r.create("pass");
  BOOST_TEST(info.name == "pass.db.gz");
  BOOST_TEST(info.encrypted);
  auto v = r.verify(info.name);
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(v.counts["transactions"].value_or(-1) == 20);
}

BOOST_AUTO_TEST_CASE(missing_tables_give_absent_counts) {
  fixture f;
  {
    auto db = open_rw(f.db, test_key());
    detail::exec(db.get(), "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)");
  }
  auto r = f.make(test_key());
  auto info = r.create();
  BOOST_TEST(!info.counts["accounts"].has_value());
  BOOST_TEST(!info.counts["transactions"].has_value());
  BOOST_TEST(!info.counts["subscriptions"].has_value());
  BOOST_TEST(r.verify(info.name).valid);
}

BOOST_AUTO_TEST_CASE(names_from_fake_clock_and_same_second) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto a = r.create();
  auto b = r.create();  // same second: must not collide
  auto c = r.create();
  BOOST_TEST(a.name == "backup-2024-01-15-143022.db.gz");
  BOOST_TEST(b.name == "backup-2024-01-15-143022-1.db.gz");
  BOOST_TEST(c.name == "backup-2024-01-15-143022-2.db.gz");
  f.clock.advance(1h + 2min + 3s);
  auto d = r.create();
  BOOST_TEST(d.name == "backup-2024-01-15-153225.db.gz");
  auto l = r.list();
  BOOST_REQUIRE(l.size() == 4u);
  BOOST_TEST(l[0].name == d.name);
  BOOST_TEST(l[1].name == c.name);
  BOOST_TEST(l[2].name == b.name);
  BOOST_TEST(l[3].name == a.name);
}

BOOST_AUTO_TEST_CASE(custom_names_and_existing_names) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto a = r.create("my-backup.db.gz");
  BOOST_TEST(a.name == "my-backup.db.gz");
  auto b = r.create("before upgrade");
  BOOST_TEST(b.name == "before upgrade.db.gz");
  const auto bytes = read_file(f.backups / "my-backup.db.gz");
  BOOST_TEST(code_of([&] { r.create("my-backup.db.gz"); }) == errc::already_exists);
  BOOST_TEST(code_of([&] { r.create("my-backup"); }) == errc::already_exists);
  BOOST_TEST((read_file(f.backups / "my-backup.db.gz") == bytes));  // untouched
  BOOST_TEST(r.get("my-backup.db.gz").name == "my-backup.db.gz");   // custom names are listed
  BOOST_TEST(r.list().size() == 2u);
}

BOOST_AUTO_TEST_CASE(invalid_names_are_refused_and_touch_nothing) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  r.create();
  const std::vector<std::string> bad = {"",
                                        "../x",
                                        "a/b",
                                        "a\\b",
                                        ".hidden",
                                        "..",
                                        "x..y.db.gz",
                                        std::string(300, 'a'),
                                        std::string("a\nb"),
                                        std::string("nul\0x", 5),
                                        "../../etc/passwd"};
  for (auto& n : bad) {
    BOOST_TEST_CONTEXT("name=" << n) {
      BOOST_TEST(code_of([&] { r.create(n); }) == errc::invalid_name);
      BOOST_TEST(code_of([&] { r.get(n); }) == errc::invalid_name);
      BOOST_TEST(code_of([&] { r.verify(n); }) == errc::invalid_name);
      BOOST_TEST(code_of([&] { r.remove(n); }) == errc::invalid_name);
      BOOST_TEST(code_of([&] { r.restore(n, f.db, true); }) == errc::invalid_name);
    }
  }
  BOOST_TEST(r.list().size() == 1u);
  // 255 bytes is the limit, suffix included.
  std::string longest(255 - 6, 'n');
  BOOST_TEST(r.create(longest).name.size() == 255u);
  BOOST_TEST(code_of([&] { r.create(std::string(250, 'n')); }) == errc::invalid_name);
}

BOOST_AUTO_TEST_CASE(not_found) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  for (auto op : {0, 1, 2, 3}) {
    try {
      if (op == 0) r.get("nope.db.gz");
      if (op == 1) r.verify("nope.db.gz");
      if (op == 2) r.remove("nope.db.gz");
      if (op == 3) r.restore("nope.db.gz", f.db, true);
      BOOST_FAIL("expected not_found");
    } catch (const not_found_error& e) {
      BOOST_TEST(std::string(e.what()) == "Backup not found: nope.db.gz");
    }
  }
}

BOOST_AUTO_TEST_CASE(prune_keeps_newest_and_ignores_unrelated_files) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    names.push_back(r.create().name);
    f.clock.advance(24h);
  }
  // A custom-named backup: created_at from its modification time (made now, so newest).
  auto custom = r.create("custom");
  // Unrelated files and a crash leftover.
  { std::ofstream(f.backups / "notes.txt") << "keep me"; }
  { std::ofstream(f.backups / "backup-2020-01-01-000000.txt") << "not a backup"; }
  { std::ofstream(f.backups / ".hone-tmp-abc123") << "partial"; }
  BOOST_TEST(r.list().size() == 7u);
  BOOST_TEST(code_of([&] { r.prune(0); }) == errc::invalid_argument);
  BOOST_TEST(code_of([&] { r.prune(-3); }) == errc::invalid_argument);

  std::uint64_t expect_freed =
      fs::file_size(f.backups / names[0]) + fs::file_size(f.backups / names[1]) + fs::file_size(f.backups / names[2]);
  auto p = r.prune(4);
  BOOST_TEST(p.deleted_count == 3u);
  BOOST_TEST(p.retained_count == 4u);
  BOOST_TEST(p.bytes_freed == expect_freed);
  BOOST_TEST((std::set<std::string>(p.deleted_names.begin(), p.deleted_names.end()) ==
              std::set<std::string>{names[0], names[1], names[2]}));
  BOOST_TEST(fs::exists(f.backups / "notes.txt"));
  BOOST_TEST(fs::exists(f.backups / "backup-2020-01-01-000000.txt"));
  BOOST_TEST(fs::exists(f.backups / custom.name));
  auto again = r.prune(4);
  BOOST_TEST(again.deleted_count == 0u);
  BOOST_TEST(again.retained_count == 4u);
}

BOOST_AUTO_TEST_CASE(wrong_key_is_reported_by_verify_and_restore) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 50});
  auto r = f.make(test_key());
  auto info = r.create();
  const auto before = read_file(f.db);

  auto wrong = disk_runner(f.exporter(other_key()), gzip_compressor{}, local_directory(f.backups), f.clock, f.ropts());
  auto v = wrong.verify(info.name);
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.message.find("different key") != std::string::npos, v.message);
  try {
    wrong.restore(info.name, f.db, true);
    BOOST_FAIL("restore with the wrong key must fail");
  } catch (const encryption_error& e) {
    BOOST_TEST(std::string(e.what()) ==
               "Restore fails with encryption error: the backup was created with a different key");
  }
  BOOST_TEST((read_file(f.db) == before));

  auto nokey =
      disk_runner(f.exporter(database_key::none()), gzip_compressor{}, local_directory(f.backups), f.clock, f.ropts());
  BOOST_TEST(!nokey.verify(info.name).valid);
  // Creating from the encrypted database with the wrong key fails clearly.
  BOOST_TEST(code_of([&] { wrong.create(); }) == errc::encryption);
  BOOST_TEST(r.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(truncated_and_bitflipped_backups_fail_verify_and_restore) {
  fixture f;
  make_hone_db(f.db, database_key::none(), {.transactions = 3000});  // compressible
  auto r = f.make(database_key::none());
  auto info = r.create("good");
  const auto good = read_file(f.backups / info.name);
  const auto before = read_file(f.db);
  std::size_t cuts[] = {0, 5, good.size() / 2, good.size() - 4, good.size() - 1};
  for (auto cut : cuts) {
    auto name = "cut-" + std::to_string(cut) + ".db.gz";
    write_file(f.backups / name, std::vector<char>(good.begin(), good.begin() + static_cast<long>(cut)));
    auto v = r.verify(name);
    BOOST_TEST(!v.valid, name);
    BOOST_TEST(!v.message.empty());
    BOOST_TEST(code_of([&] { r.restore(name, f.db, true); }) == errc::corrupt_backup);
    BOOST_TEST((read_file(f.db) == before));
  }
  for (std::size_t at : {std::size_t(20), good.size() / 3, good.size() / 2, good.size() - 6}) {
    auto bad = good;
    bad[at] ^= 0x10;
    auto name = "flip-" + std::to_string(at) + ".db.gz";
    write_file(f.backups / name, bad);
    auto v = r.verify(name);
    BOOST_TEST(!v.valid, name << ": " << v.message);
    BOOST_TEST(code_of([&] { r.restore(name, f.db, true); }) == errc::corrupt_backup);
    BOOST_TEST((read_file(f.db) == before));
  }
  BOOST_TEST(r.verify("good.db.gz").valid);
}

BOOST_AUTO_TEST_CASE(encrypted_bitflip_inside_database_pages_is_caught) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 2000});
  // Identity-compressed copy, so the flip lands in the database pages, not in gzip framing.
  using id_runner = BackupRunner<sqlcipher_exporter, identity_compressor, local_directory, fake_clock>;
  id_runner r(f.exporter(test_key()), identity_compressor{}, local_directory(f.backups), f.clock, f.ropts());
  auto info = r.create("plain-framing");
  auto bytes = read_file(f.backups / info.name);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file(f.backups / "flipped.db", bytes);
  auto v = r.verify("flipped.db");
  BOOST_TEST(!v.valid);
  BOOST_TEST(!v.message.empty());
  BOOST_TEST(r.verify(info.name).valid);
}

BOOST_AUTO_TEST_CASE(check_levels_differ_in_what_they_catch) {
  // An index that disagrees with its table: every page is sound (quick_check, HMACs), only
  // integrity_check's row-by-row index lookups notice. Made by redefining the index in the
  // schema without rebuilding it.
  for (bool encrypted : {true, false}) {
    BOOST_TEST_CONTEXT("encrypted=" << encrypted) {
      fixture f;
      database_key key = encrypted ? test_key() : database_key::none();
      make_hone_db(f.db, key, {.transactions = 500, .wal = false});
      {
        auto db = open_rw(f.db, key);
        detail::exec(db.get(), "CREATE INDEX tx_probe ON transactions(amount)");
        detail::exec(db.get(), "PRAGMA writable_schema = ON");
        detail::exec(db.get(),
                     "UPDATE sqlite_master SET sql = 'CREATE INDEX tx_probe ON transactions(description)' "
                     "WHERE name = 'tx_probe'");
        detail::exec(db.get(), "PRAGMA writable_schema = OFF");
      }
      BOOST_TEST((sqlcipher_exporter::options{}.check == check_level::full));
      auto full = f.check_db(key, check_level::full);
      BOOST_TEST(!full.valid);
      BOOST_TEST(full.message.rfind("integrity_check failed: ", 0) == 0, full.message);
      BOOST_TEST(full.message.find("tx_probe") != std::string::npos, full.message);
      BOOST_TEST(!full.counts["transactions"].has_value());
      for (auto level : {check_level::quick, check_level::readable}) {
        auto c = f.check_db(key, level);
        BOOST_TEST(c.valid, c.message);
        BOOST_TEST(c.counts["transactions"].value_or(-1) == 500);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(quick_check_catches_damaged_pages) {
  // A b-tree page overwritten in the middle (plain: quick_check sees the broken structure;
  // encrypted: the page's HMAC no longer matches). readable only proves the key and the
  // schema, so it may or may not touch the page; quick and full must both refuse.
  for (bool encrypted : {true, false}) {
    BOOST_TEST_CONTEXT("encrypted=" << encrypted) {
      fixture f;
      database_key key = encrypted ? test_key() : database_key::none();
      make_hone_db(f.db, key, {.transactions = 3000, .wal = false});
      auto bytes = read_file(f.db);
      const std::size_t page = 4096, pages = bytes.size() / page;
      BOOST_REQUIRE(pages > 8u);
      const std::size_t at = (pages - 2) * page + 100;  // a late page: rows, not the schema
      for (std::size_t i = 0; i < 64; ++i) bytes[at + i] = static_cast<char>(0xA5);
      write_file(f.db, bytes);
      for (auto level : {check_level::quick, check_level::full}) {
        auto c = f.check_db(key, level);
        BOOST_TEST(!c.valid, "level " << int(level));
        BOOST_TEST(!c.message.empty());
        BOOST_TEST(!c.wrong_key);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(restore_refused_without_force_and_failed_restore_leaves_db) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 100});
  auto r = f.make(test_key());
  auto info = r.create();
  const auto before = read_file(f.db);
  BOOST_TEST(code_of([&] { r.restore(info.name, f.db, false); }) == errc::database_exists);
  BOOST_TEST((read_file(f.db) == before));
  // Restoring into a new location needs no force.
  auto fresh = f.dir / "elsewhere.db";
  BOOST_TEST(r.restore(info.name, fresh, false).restored);
  BOOST_TEST(dump(fresh, test_key()) == dump(f.db, test_key()));
  BOOST_TEST(code_of([&] { r.restore(info.name, fresh, false); }) == errc::database_exists);
}

BOOST_AUTO_TEST_CASE(restore_keeps_pre_restore_copy_with_sidecars) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 100});
  auto r = f.make(test_key());
  auto info = r.create();
  // Keep a connection open so the -wal holds data not yet checkpointed.
  auto live = open_rw(f.db, test_key());
  detail::exec(live.get(), "PRAGMA wal_autocheckpoint = 0");
  detail::exec(live.get(), "INSERT INTO accounts(name, bank) VALUES ('after backup', 'x')");
  BOOST_REQUIRE(fs::exists(f.db.string() + "-wal"));
  const std::string live_dump = dump(f.db, test_key());
  const auto wal_size = fs::file_size(f.db.string() + "-wal");
  // While another connection has the database open in WAL mode, replacing the file would
  // strand that connection's -wal: refused, and nothing changed.
  BOOST_CHECK_THROW(r.restore(info.name, f.db, true), database_busy_error);
  BOOST_TEST(fs::file_size(f.db.string() + "-wal") == wal_size);
  BOOST_TEST(dump(f.db, test_key()) == live_dump);
  for (auto& e : fs::directory_iterator(f.db.parent_path()))
    BOOST_TEST(e.path().filename().string().find("pre-restore") == std::string::npos, e.path());
  // An application that died with committed rows still in the -wal: they are part of the
  // kept copy, and the restored database gets none of them.
  live.reset();
  commit_and_die(f.db, test_key(), "INSERT INTO accounts(name, bank) VALUES ('still in the wal', 'x')");
  BOOST_REQUIRE(fs::file_size(f.db.string() + "-wal") > 0);
  const std::string died_dump = dump(f.db, test_key());  // read-only: checkpoints nothing
  auto res = r.restore(info.name, f.db, true);
  for (const char* sfx : {"-wal", "-shm", "-journal"}) BOOST_TEST(!fs::exists(f.db.string() + sfx), sfx);
  BOOST_TEST(died_dump.find("still in the wal") != std::string::npos);
  BOOST_TEST(dump(res.pre_restore_copy, test_key()) == died_dump);
  BOOST_TEST(r.verify(info.name).counts["accounts"].value_or(-1) == 3);
  auto check = f.exporter(test_key()).check(f.db);
  BOOST_TEST(check.valid);
  BOOST_TEST(check.counts["accounts"].value_or(-1) == 3);
}

BOOST_AUTO_TEST_CASE(sidecar_names_for_paths_not_ending_in_db) {
  fixture f;
  f.db = f.dir / "finance.sqlite3";
  make_hone_db(f.db, test_key(), {.transactions = 10});
  auto r = f.make(test_key());
  auto info = r.create();
  { std::ofstream(f.db.string() + "-shm") << "stale"; }
  r.restore(info.name, f.db, true);
  BOOST_TEST(!fs::exists(f.db.string() + "-shm"));
  BOOST_TEST(f.exporter(test_key()).check(f.db).valid);
}

BOOST_AUTO_TEST_CASE(crash_leftovers_are_ignored_and_cleaned) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  fs::create_directories(f.backups);
  { std::ofstream(f.backups / ".hone-tmp-XYZ123") << "half a backup"; }
  BOOST_TEST(r.list().empty());
  r.create();
  BOOST_TEST(!fs::exists(f.backups / ".hone-tmp-XYZ123"));
  BOOST_TEST(r.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(restore_removes_temp_files_of_a_killed_restore) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto info = r.create();
  const auto stale = f.dir / ".hone.db.restore-AbC123";
  const auto unrelated = f.dir / ".other.db.restore-AbC123";
  { std::ofstream(stale) << "half restored"; }
  { std::ofstream(unrelated) << "not ours"; }
  r.restore(info.name, f.db, true);
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(unrelated));
}

// A program that removes its temporaries on a signal learns of each one before it exists, so a
// signal that arrives just after the file or folder appears cannot leave it behind.
BOOST_AUTO_TEST_CASE(temp_files_are_announced_before_they_exist) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  std::vector<std::string> announced, existed_when_announced, gone_when_withdrawn;
  runner_options ro = f.ropts();
  ro.temp_files = [&](const fs::path& p, bool created) {
    std::error_code ec;
    const bool there = fs::symlink_status(p, ec).type() != fs::file_type::not_found;
    if (created) {
      announced.push_back(p.filename().string());
      if (there) existed_when_announced.push_back(p.string());
    } else if (there) {
      gone_when_withdrawn.push_back(p.string());  // withdrawn while it still exists: not expected
    }
  };
  disk_runner r(f.exporter(test_key()), gzip_compressor{}, local_directory(f.backups), f.clock, ro);
  auto info = r.create();
  r.verify(info.name);
  r.restore(info.name, f.db, true);
  BOOST_TEST(announced.size() >= 3u);  // export folder, verify folder, restore's file
  BOOST_TEST(
      std::ranges::count_if(announced, [](const std::string& n) { return n.starts_with(".hone.db.restore-"); }) == 1);
  BOOST_TEST(existed_when_announced.empty(), existed_when_announced.size() << " announced after creation");
  BOOST_TEST(gone_when_withdrawn.empty(), gone_when_withdrawn.size() << " withdrawn before removal");
  // Nothing is left: not in the temp folder, not beside the database.
  for (const auto& e : fs::directory_iterator(f.dir.path()))
    BOOST_TEST(!e.path().filename().string().starts_with(".hone.db.restore-"), e.path());
}

BOOST_AUTO_TEST_CASE(directory_errors) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  { std::ofstream(f.dir / "afile") << "x"; }
  disk_runner r(f.exporter(test_key()), gzip_compressor{}, local_directory(f.dir / "afile" / "sub"), f.clock,
                f.ropts());
  try {
    r.create();
    BOOST_FAIL("expected directory error");
  } catch (const directory_error& e) {
    BOOST_TEST(std::string(e.what()).rfind(
                   "Failed to access backup directory: " + (f.dir / "afile" / "sub").string() + ": ", 0) == 0,
               e.what());
  }
  // A missing folder is created owner-only.
  disk_runner ok(f.exporter(test_key()), gzip_compressor{}, local_directory(f.dir / "new" / "deep"), f.clock,
                 f.ropts());
  ok.create();
  BOOST_TEST(mode_of(f.dir / "new" / "deep") == 0700u);
  BOOST_TEST(ok.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(missing_database_is_a_clear_error) {
  fixture f;
  auto r = f.make(test_key());
  try {
    r.create();
    BOOST_FAIL("expected an error");
  } catch (const hone::backup::error& e) {
    BOOST_TEST(std::string(e.what()).find("Database not found") != std::string::npos);
  }
  BOOST_TEST(r.list().empty());
}

BOOST_AUTO_TEST_CASE(memory_destination_runner) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 42});
  memory_destination dest;
  auto r = f.make_mem(test_key(), dest);
  auto a = r.create();
  f.clock.advance(1s);
  auto b = r.create("named");
  BOOST_TEST(a.path == "memory:" + a.name);
  auto l = r.list();
  BOOST_REQUIRE(l.size() == 2u);
  BOOST_TEST(l[0].name == "named.db.gz");  // modified at the later fake time
  BOOST_TEST(r.verify(a.name).counts["transactions"].value_or(-1) == 42);
  BOOST_TEST(dest.bytes(a.name).size() == a.size);
  r.remove(a.name);
  BOOST_TEST(r.list().size() == 1u);
  BOOST_TEST(code_of([&] { r.remove(a.name); }) == errc::not_found);
}

BOOST_AUTO_TEST_CASE(observer_sees_progress_and_outcome) {
  fixture f;
  make_hone_db(f.db, database_key::none(), {.transactions = 3000});
  auto r = f.make(database_key::none());
  std::vector<event> seen;
  r.options().observer = [&](const event& e) { seen.push_back(e); };
  auto info = r.create();
  BOOST_REQUIRE(!seen.empty());
  BOOST_TEST((seen.front().what == event::kind::started));
  BOOST_TEST((seen.back().what == event::kind::finished));
  BOOST_TEST(seen.back().name == info.name);
  bool progress = false;
  for (auto& e : seen) progress |= e.what == event::kind::progress && e.stage == "compress" && e.done > 0;
  BOOST_TEST(progress);
  seen.clear();
  BOOST_CHECK_THROW(r.verify("missing.db.gz"), not_found_error);
  BOOST_TEST((seen.back().what == event::kind::failed));
  BOOST_TEST(seen.back().message == "Backup not found: missing.db.gz");
}

BOOST_AUTO_TEST_SUITE_END()
