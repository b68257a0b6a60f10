// What must never happen to a user's data or protection: a restore that drops the
// encryption or the owner, junk files counted (or deleted) as backups, names that sort out of
// creation order, temp paths in messages, folders and lock files that others could use.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <cstring>
#include <random>
#include <set>

#include <csignal>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

using disk_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

struct fixture {
  scratch_dir dir{"safety"};
  fs::path db = dir / "hone.db";
  fs::path backups = dir / "backups";
  fake_clock clock;

  disk_runner make(const database_key& key, const fs::path& database) {
    sqlcipher_exporter::options o;
    o.counts = hone_test::hone_count_queries();
    o.key = key;
    runner_options ro;
    ro.temp_directory = dir.path();
    return disk_runner(sqlcipher_exporter(database, o), gzip_compressor{}, local_directory(backups), clock, ro);
  }
  disk_runner make(const database_key& key) { return make(key, db); }

  /// Writes `content` gzip-compressed as backups/NAME.
  void plant_gzip(const std::string& name, const std::vector<std::byte>& content) {
    std::vector<std::byte> packed;
    buffer_writer<std::vector<std::byte>> out(packed);
    span_reader in(content);
    gzip_compressor{}.compress(in, out, {});
    fs::create_directories(backups);
    std::vector<char> bytes(packed.size());
    std::memcpy(bytes.data(), packed.data(), packed.size());
    write_file(backups / name, bytes);
  }
};

struct stat_result {
  uid_t uid;
  gid_t gid;
  mode_t mode;
};
stat_result stat_of(const fs::path& p) {
  struct stat st {};
  BOOST_REQUIRE(::stat(p.c_str(), &st) == 0);
  return {st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)};
}

std::vector<std::byte> text_bytes(std::size_t n) {
  std::vector<std::byte> v(n);
  const char* words = "lorem ipsum dolor sit amet ";
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(words[i % 27]);
  return v;
}

bool has_pre_restore_copy(const fs::path& folder) {
  for (auto& e : fs::directory_iterator(folder))
    if (e.path().filename().string().find(".pre-restore-") != std::string::npos) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safety)

BOOST_AUTO_TEST_CASE(a_plain_backup_is_not_restored_while_a_key_is_configured) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 50});
  const auto plain_db = f.dir / "plain.db";
  make_hone_db(plain_db, database_key::none(), {.transactions = 7});
  auto plain = f.make(database_key::none(), plain_db).create();
  BOOST_TEST(!plain.encrypted);
  const std::string before = dump(f.db, test_key());
  auto keyed = f.make(test_key());
  try {
    keyed.restore(plain.name, f.db, true);
    BOOST_FAIL("expected unencrypted_backup_error");
  } catch (const unencrypted_backup_error& e) {
    BOOST_TEST(std::string(e.what()).find("is not encrypted") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("unencrypted") != std::string::npos, e.what());
  }
  BOOST_TEST(dump(f.db, test_key()) == before);
  BOOST_TEST(!has_pre_restore_copy(f.dir.path()));
  // Over a path where nothing exists yet: refused as well.
  BOOST_CHECK_THROW(keyed.restore(plain.name, f.dir / "new.db", false), unencrypted_backup_error);
  BOOST_TEST(!fs::exists(f.dir / "new.db"));
  // Without a key it is restored as it is.
  auto unkeyed = f.make(database_key::none(), f.dir / "copy.db");
  unkeyed.restore(plain.name, f.dir / "copy.db", false);
  BOOST_TEST(detail::has_plain_header(f.dir / "copy.db"));
}

BOOST_AUTO_TEST_CASE(an_encrypted_database_without_a_key_says_the_key_is_missing) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 20});
  auto info = f.make(test_key()).create();
  auto unkeyed = f.make(database_key::none());
  BOOST_CHECK_THROW(unkeyed.create(), key_required_error);
  auto v = unkeyed.verify(info.name);
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.key_missing);
  BOOST_TEST(!v.wrong_key);
  const std::string before = dump(f.db, test_key());
  BOOST_CHECK_THROW(unkeyed.restore(info.name, f.db, true), key_required_error);
  BOOST_TEST(dump(f.db, test_key()) == before);
  // A wrong key is still a wrong key.
  auto other = f.make(other_key()).verify(info.name);
  BOOST_TEST(other.wrong_key);
  BOOST_TEST(!other.key_missing);
}

BOOST_AUTO_TEST_CASE(restore_keeps_the_mode_and_owner_of_what_it_replaces) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 20});
  auto r = f.make(test_key());
  auto info = r.create();
  BOOST_REQUIRE(::chmod(f.db.c_str(), 0640) == 0);
  const bool root = ::geteuid() == 0;
  if (root) BOOST_REQUIRE(::chown(f.db.c_str(), 65534, 65534) == 0);
  r.restore(info.name, f.db, true);
  auto st = stat_of(f.db);
  BOOST_TEST(st.mode == 0640u);
  if (root) {
    BOOST_TEST(st.uid == 65534u);
    BOOST_TEST(st.gid == 65534u);
  } else {
    BOOST_TEST_MESSAGE("not root: the owner part is checked when run as root");
  }
  for (const char* sfx : {"-wal", "-shm"}) BOOST_TEST(!fs::exists(f.db.string() + sfx), sfx);
  // With nothing to replace: owner-only, the caller's.
  r.restore(info.name, f.dir / "fresh.db", false);
  auto fresh = stat_of(f.dir / "fresh.db");
  BOOST_TEST(fresh.mode == 0600u);
  BOOST_TEST(fresh.uid == ::geteuid());
}

BOOST_AUTO_TEST_CASE(junk_named_like_backups_is_listed_with_its_problem_and_never_pruned) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 20});
  auto r = f.make(test_key());
  std::vector<std::string> real;
  for (int i = 0; i < 3; ++i) {
    real.push_back(r.create().name);
    f.clock.advance(1h);
  }
  fs::create_directories(f.backups);
  write_file(f.backups / "not-gzip.db.gz", {'h', 'e', 'l', 'l', 'o'});
  f.plant_gzip("empty.db.gz", {});
  f.plant_gzip("text.db.gz", text_bytes(8192));
  // Dated in the future by its name: it must not take the place of the newest backup.
  f.plant_gzip("backup-2099-01-01-000000.db.gz", text_bytes(4096));
  const std::set<std::string> junk = {"not-gzip.db.gz", "empty.db.gz", "text.db.gz", "backup-2099-01-01-000000.db.gz"};

  auto all = r.list();
  BOOST_REQUIRE(all.size() == 7u);
  for (const auto& b : all) {
    BOOST_TEST_CONTEXT(b.name) { BOOST_TEST(b.problem.empty() == !junk.count(b.name), b.problem); }
  }
  auto pruned = r.prune(2);
  BOOST_TEST(pruned.deleted_names == std::vector<std::string>{real[0]});
  BOOST_TEST(pruned.retained_count == 2u);
  const std::set<std::string> skipped(pruned.skipped_names.begin(), pruned.skipped_names.end());
  BOOST_TEST((skipped == junk));
  for (const auto& n : junk) BOOST_TEST(fs::exists(f.backups / n), n);
  BOOST_TEST(fs::exists(f.backups / real[2]));
  BOOST_TEST(fs::exists(f.backups / real[1]));
  // A junk file cannot be verified or restored into the database.
  const std::string before = dump(f.db, test_key());
  for (const auto& n : junk) {
    BOOST_TEST_CONTEXT(n) {
      BOOST_TEST(!r.verify(n).valid);
      BOOST_CHECK_THROW(r.restore(n, f.db, true), error);
    }
  }
  BOOST_TEST(dump(f.db, test_key()) == before);
}

BOOST_AUTO_TEST_CASE(an_empty_backup_is_never_valid) {
  fixture f;
  make_hone_db(f.db, database_key::none(), {.transactions = 20});
  auto r = f.make(database_key::none());
  f.plant_gzip("backup-2024-01-15-143022.db.gz", {});
  auto v = r.verify("backup-2024-01-15-143022.db.gz");
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.message.find("empty") != std::string::npos, v.message);
  const std::string before = dump(f.db, database_key::none());
  BOOST_CHECK_THROW(r.restore("backup-2024-01-15-143022.db.gz", f.db, true), corrupt_backup_error);
  BOOST_TEST(dump(f.db, database_key::none()) == before);
  BOOST_CHECK_THROW(r.restore("backup-2024-01-15-143022.db.gz", f.dir / "new.db", false), corrupt_backup_error);
  BOOST_TEST(!fs::exists(f.dir / "new.db"));
}

BOOST_AUTO_TEST_CASE(backups_of_one_second_sort_in_creation_order_after_a_prune) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto a = r.create();
  auto b = r.create();
  BOOST_TEST(a.name == "backup-2024-01-15-143022.db.gz");  // the description's exact form
  BOOST_TEST(b.name == "backup-2024-01-15-143022-1.db.gz");
  r.prune(1);  // removes a: its name must not come back for a later backup
  BOOST_TEST(!fs::exists(f.backups / a.name));
  auto c = r.create();
  BOOST_TEST(c.name == "backup-2024-01-15-143022-2.db.gz");
  auto l = r.list();
  BOOST_REQUIRE(l.size() == 2u);
  BOOST_TEST(l[0].name == c.name);
  auto pruned = r.prune(1);
  BOOST_TEST(pruned.deleted_names == std::vector<std::string>{b.name});
  BOOST_TEST(fs::exists(f.backups / c.name));
}

BOOST_AUTO_TEST_CASE(names_resolve_as_create_took_them) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto b = r.create("before-upgrade");
  BOOST_TEST(b.name == "before-upgrade.db.gz");
  BOOST_TEST(r.resolve_name("before-upgrade") == "before-upgrade.db.gz");
  BOOST_TEST(r.resolve_name("before-upgrade.db.gz") == "before-upgrade.db.gz");
  BOOST_TEST(r.get("before-upgrade").name == b.name);
  auto v = r.verify("before-upgrade");
  BOOST_TEST(v.valid);
  BOOST_TEST(v.name == b.name);
  BOOST_TEST(r.restore("before-upgrade", f.dir / "restored.db", false).backup_name == b.name);
  BOOST_TEST(r.remove("before-upgrade") == b.name);
  BOOST_TEST(!fs::exists(f.backups / b.name));
  BOOST_CHECK_THROW(r.get("before-upgrade"), not_found_error);
  BOOST_CHECK_THROW(r.resolve_name("../before-upgrade"), invalid_name_error);
}

BOOST_AUTO_TEST_CASE(compressed_means_a_gzip_backup_and_deflated_says_whether_it_shrank) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 300});
  auto enc = f.make(test_key()).create();
  BOOST_TEST(enc.compressed);
  BOOST_TEST(!enc.deflated);
  const auto plain_db = f.dir / "plain.db";
  make_hone_db(plain_db, database_key::none(), {.transactions = 300});
  auto plain = f.make(database_key::none(), plain_db).create("plain");
  BOOST_TEST(plain.compressed);
  BOOST_TEST(plain.deflated);
  for (const auto& b : f.make(test_key()).list()) {
    BOOST_TEST_CONTEXT(b.name) {
      BOOST_TEST(b.compressed);
      BOOST_TEST(b.deflated == !b.encrypted);
    }
  }
}

BOOST_AUTO_TEST_CASE(messages_never_show_private_temp_paths) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 20});
  auto r = f.make(test_key());
  // Random bytes that look like ciphertext: the key "does not open" them.
  std::vector<std::byte> noise(8192);
  std::mt19937 rng(7);
  for (auto& b : noise) b = std::byte(rng() & 0xff);
  f.plant_gzip("noise.db.gz", noise);
  auto v = r.verify("noise.db.gz");
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.message.find(f.dir.path().string()) == std::string::npos, v.message);
  BOOST_TEST(v.message.find("hone-verify-") == std::string::npos, v.message);
  try {
    r.restore("noise.db.gz", f.db, true);
    BOOST_FAIL("expected an error");
  } catch (const error& e) {
    BOOST_TEST(std::string(e.what()).find(".restore-") == std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(a_sidecar_that_cannot_be_removed_stops_the_restore_before_the_install) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 20, .wal = false});
  auto r = f.make(test_key());
  auto info = r.create();
  {
    auto db = open_rw(f.db, test_key());
    detail::exec(db.get(), "INSERT INTO accounts(name, bank) VALUES ('after the backup', 'x')");
  }
  const std::string before = dump(f.db, test_key());
  // A -shm that unlink() cannot remove (a folder that is not empty).
  fs::create_directories(f.db.string() + "-shm/inside");
  try {
    r.restore(info.name, f.db, true);
    BOOST_FAIL("expected an io_error");
  } catch (const io_error& e) {
    BOOST_TEST(std::string(e.what()).find("was not replaced") != std::string::npos, e.what());
  }
  BOOST_TEST(dump(f.db, test_key()) == before);
  BOOST_TEST(!has_pre_restore_copy(f.dir.path()));
  for (auto& e : fs::directory_iterator(f.dir.path()))
    BOOST_TEST(e.path().filename().string().find(".restore-") == std::string::npos, e.path());
}

BOOST_AUTO_TEST_CASE(listing_a_folder_that_cannot_be_read_is_an_error_not_an_empty_list) {
  fixture f;
  write_file(f.dir / "a-file", {'x'});
  BOOST_CHECK_THROW(local_directory(f.dir / "a-file").list(), directory_error);
  BOOST_TEST(local_directory(f.dir / "missing").list().empty());  // not created yet: nothing stored
  if (::geteuid() != 0) {
    fs::create_directories(f.dir / "closed");
    fs::permissions(f.dir / "closed", fs::perms::none);
    BOOST_CHECK_THROW(local_directory(f.dir / "closed").list(), directory_error);
    fs::permissions(f.dir / "closed", fs::perms::owner_all);
  }
}

BOOST_AUTO_TEST_CASE(folders_created_for_backups_are_owner_only_parents_included) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  const mode_t old = ::umask(022);
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = f.dir.path();
  disk_runner r(sqlcipher_exporter(f.db, o), gzip_compressor{}, local_directory(f.dir / "a" / "b" / "c"), f.clock, ro);
  r.create();
  ::umask(old);
  for (auto p : {f.dir / "a", f.dir / "a" / "b", f.dir / "a" / "b" / "c"}) BOOST_TEST(stat_of(p).mode == 0700u, p);
}

BOOST_AUTO_TEST_CASE(a_planted_lock_symlink_is_not_followed) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  fs::create_directories(f.backups);
  fs::create_symlink(f.dir / "elsewhere", f.backups / ".hone-backup.lock");
  auto r = f.make(test_key());
  BOOST_CHECK_THROW(r.create(), error);
  BOOST_TEST(!fs::exists(f.dir / "elsewhere"));
}

BOOST_AUTO_TEST_CASE(store_reports_each_step) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  local_directory dest(f.backups);
  std::vector<std::string> steps;
  dest.trace = [&](std::string_view s, const fs::path&) { steps.emplace_back(s); };
  runner_options ro;
  ro.temp_directory = f.dir.path();
  disk_runner r(sqlcipher_exporter(f.db, o), gzip_compressor{}, dest, f.clock, ro);
  r.create();
  BOOST_TEST((steps == std::vector<std::string>{"write", "fsync", "rename", "fsync folder"}));
}

BOOST_AUTO_TEST_CASE(temp_folders_of_killed_operations_are_removed_by_the_next_one) {
  fixture f;
  make_hone_db(f.db, database_key::none(), {.transactions = 50});
  const auto tmp = f.dir / "tmp";
  fs::create_directories(tmp);
  // A create killed mid-way: its folder, snapshot and owner file are left, the lock is gone.
  const pid_t pid = ::fork();
  if (pid == 0) {
    detail::private_temp_dir leaked(tmp, "export");
    write_file(leaked.path() / "snapshot.db", std::vector<char>(4096, 'x'));
    ::_exit(0);  // no destructor runs: as after kill -9
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::size_t leaked = 0;
  for (auto& e : fs::directory_iterator(tmp)) leaked += e.path().filename().string().rfind("hone-export-", 0) == 0;
  BOOST_REQUIRE(leaked == 1u);
  // A folder still in use by a live operation is left alone.
  detail::private_temp_dir live(tmp, "verify");
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  runner_options ro;
  ro.temp_directory = tmp;
  disk_runner r(sqlcipher_exporter(f.db, o), gzip_compressor{}, local_directory(f.backups), f.clock, ro);
  r.create();
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(tmp)) left.push_back(e.path().filename().string());
  BOOST_TEST(left.size() == 1u);
  BOOST_TEST(left.front() == live.path().filename().string());
}

BOOST_AUTO_TEST_CASE(a_folder_others_can_write_to_is_refused) {
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  auto r = f.make(test_key());
  auto info = r.create();
  const std::string before = dump(f.db, test_key());
  for (auto mode : {0770, 0757, 01777}) {
    BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
      BOOST_REQUIRE(::chmod(f.backups.c_str(), mode) == 0);
      try {
        r.list();
        BOOST_FAIL("expected directory_error");
      } catch (const directory_error& e) {
        BOOST_TEST(std::string(e.what()).find("chmod go-w") != std::string::npos, e.what());
      }
      BOOST_CHECK_THROW(r.create(), directory_error);
      BOOST_CHECK_THROW(r.restore(info.name, f.db, true), directory_error);
      BOOST_TEST(dump(f.db, test_key()) == before);
    }
  }
  BOOST_REQUIRE(::chmod(f.backups.c_str(), 0700) == 0);
  BOOST_TEST(r.list().size() == 1u);
  if (::geteuid() == 0) {
    // Owned by someone else: neither the folder nor a file in it is trusted. The file is not
    // hidden: it is listed with its owner and a problem, and refused by name.
    BOOST_REQUIRE(::chown((f.backups / info.name).c_str(), 65534, 65534) == 0);
    const auto listed = r.list();
    BOOST_REQUIRE(listed.size() == 1u);
    BOOST_TEST(listed.front().owner.find("user id 65534") == 0u, listed.front().owner);
    BOOST_TEST(listed.front().problem.find("it belongs to user id 65534") == 0u, listed.front().problem);
    BOOST_CHECK_THROW(r.restore(info.name, f.db, true), directory_error);
    BOOST_TEST(r.prune(1).skipped_names.size() == 1u);  // never deleted by a prune
    BOOST_TEST(fs::exists(f.backups / info.name));
    BOOST_REQUIRE(::chown(f.backups.c_str(), 65534, 65534) == 0);
    BOOST_CHECK_THROW(r.list(), directory_error);
  } else {
    BOOST_TEST_MESSAGE("not root: files and folders of other users are checked when run as root");
  }
}

BOOST_AUTO_TEST_CASE(a_shared_folder_accepts_other_users_folders_and_files) {
  // A NAS share: mode 0777, and (as root) owned by another user, its files too.
  fixture f;
  make_hone_db(f.db, test_key(), {.transactions = 5});
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = f.dir.path();
  disk_runner r(sqlcipher_exporter(f.db, o), gzip_compressor{}, local_directory(f.backups, {.shared = true}), f.clock,
                ro);
  const auto first = r.create();
  BOOST_REQUIRE(::chmod(f.backups.c_str(), 0777) == 0);
  local_directory plain(f.backups);
  BOOST_TEST(plain.sharing() == "it is writable by others (mode 0777)");
  BOOST_CHECK_THROW(plain.check_writable(), directory_error);
  local_directory shared(f.backups, {.shared = true});
  shared.check_writable();
  f.clock.advance(1h);
  const auto second = r.create();
  BOOST_TEST(r.list().size() == 2u);
  BOOST_TEST(r.verify(first.name).valid);
  if (::geteuid() == 0) {
    BOOST_REQUIRE(::chown(f.backups.c_str(), 1234, 1234) == 0);
    BOOST_REQUIRE(::chown((f.backups / first.name).c_str(), 65534, 65534) == 0);
    BOOST_TEST(shared.sharing().find("it is owned by user id 1234") == 0u, shared.sharing());
    const auto listed = r.list();
    BOOST_REQUIRE(listed.size() == 2u);
    BOOST_TEST(listed.back().name == first.name);
    BOOST_TEST(listed.back().owner.find("user id 65534") == 0u);
    BOOST_TEST(listed.back().problem.empty(), listed.back().problem);
    BOOST_TEST(r.verify(first.name).valid);
    auto res = r.restore(first.name, f.db, true);
    BOOST_TEST(res.restored);
    BOOST_TEST(r.prune(1).deleted_count == 1u);
    BOOST_TEST(!fs::exists(f.backups / first.name));
  } else {
    BOOST_TEST_MESSAGE("not root: folders and files of other users are checked when run as root");
  }
  BOOST_TEST(r.get(second.name).owner.empty());
}

BOOST_AUTO_TEST_CASE(a_gzip_bomb_is_refused_before_it_is_written_out) {
  fixture f;
  make_hone_db(f.db, database_key::none(), {.transactions = 20});
  f.plant_gzip("bomb.db.gz", std::vector<std::byte>(64u << 20));  // 64 MiB of zeros, 64 KiB packed
  const std::string before = dump(f.db, database_key::none());
  // In a child limited to 8 MiB per file: writing the bomb out would fail with EFBIG (an
  // io_error); refusing it from its first bytes gives corrupt_backup at once.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {
      8u << 20, 8u << 20
    };
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int code = 0;
    try {
      auto r = f.make(database_key::none());
      auto v = r.verify("bomb.db.gz");
      if (v.valid || v.message.find("not a database") == std::string::npos) code = 1;
      r.restore("bomb.db.gz", f.db, true);
      code = 2;
    } catch (const corrupt_backup_error&) {
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(dump(f.db, database_key::none()) == before);
  for (auto& e : fs::directory_iterator(f.dir.path()))
    BOOST_TEST(e.path().filename().string().find(".restore-") == std::string::npos, e.path());
}

BOOST_AUTO_TEST_CASE(restore_through_a_symlink_replaces_the_file_it_points_to) {
  // A volume mounted elsewhere: app/hone.db -> ../data/real.db.
  fixture f;
  const fs::path data = f.dir / "data", app = f.dir / "app";
  fs::create_directories(data);
  fs::create_directories(app);
  const fs::path real = data / "real.db", link = app / "hone.db";
  make_hone_db(real, test_key(), {.transactions = 20});
  fs::create_symlink("../data/real.db", link);
  auto r = f.make(test_key(), link);
  auto info = r.create();
  const std::string before = dump(real, test_key());
  commit_and_die(real, test_key(), "INSERT INTO accounts(name, bank) VALUES ('after the backup', 'x')");
  const std::string changed = dump(real, test_key());
  BOOST_REQUIRE(changed != before);

  auto res = r.restore(info.name, link, true);
  // The link is still a link to the same file, which now holds the backup.
  BOOST_TEST(fs::is_symlink(link));
  BOOST_TEST(fs::read_symlink(link) == fs::path("../data/real.db"));
  BOOST_TEST(fs::is_regular_file(fs::symlink_status(real)));
  BOOST_TEST(dump(real, test_key()) == before);
  BOOST_TEST(res.database == fs::weakly_canonical(real));
  // The previous database is a real file beside the real one, not a link.
  BOOST_TEST(res.pre_restore_copy.parent_path() == fs::weakly_canonical(data));
  BOOST_TEST(fs::is_regular_file(fs::symlink_status(res.pre_restore_copy)));
  BOOST_TEST(dump(res.pre_restore_copy, test_key()) == changed);
  for (auto& e : fs::directory_iterator(app)) BOOST_TEST(e.path() == link, e.path());
  BOOST_TEST(restored_file_path(link) == fs::weakly_canonical(real));
  BOOST_TEST(restored_file_path(real) == fs::absolute(real));

  // A link to a file that does not exist yet: the restore creates that file.
  const fs::path dangling = app / "new.db";
  fs::create_symlink("../data/new-real.db", dangling);
  r.restore(info.name, dangling, false);
  BOOST_TEST(fs::is_symlink(dangling));
  BOOST_TEST(dump(data / "new-real.db", test_key()) == before);
}

BOOST_AUTO_TEST_SUITE_END()
