// A full disk loses nothing: create fails clearly and leaves no partial backup, restore fails
// and leaves the current database as it was, verify leaves no temp files. The disk is a real
// small tmpfs where the test may mount one (root), else a file-size limit (RLIMIT_FSIZE) in a
// child process gives the same failure at the same point.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <csignal>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

using namespace hone_test;

namespace {
using runner_t = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

runner_t make_runner(const fs::path& db, const fs::path& backups, const fs::path& tmp) {
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = tmp;
  return runner_t(sqlcipher_exporter(db, o), gzip_compressor{}, local_directory(backups), fake_clock{}, ro);
}

/// A small filesystem at `where`, unmounted on destruction; mounted() is false without privileges.
struct small_disk {
  fs::path where;
  bool ok = false;
  small_disk(fs::path p, const char* size) : where(std::move(p)) {
    fs::create_directories(where);
    ok = !std::getenv("HONE_TEST_NO_MOUNT") &&
         ::mount("tmpfs", where.c_str(), "tmpfs", 0, (std::string("size=") + size + ",mode=0700").c_str()) == 0;
  }
  ~small_disk() {
    if (ok) ::umount2(where.c_str(), MNT_DETACH);
  }
};

/// Runs f in a child process with a file size limit; returns the child's exit code.
template <class F>
int with_file_size_limit(rlim_t bytes, F&& f) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG instead of killing us
    rlimit rl{bytes, bytes};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    ::_exit(f());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

int no_temp_leftovers(const fs::path& dir) {
  for (auto& e : fs::directory_iterator(dir)) {
    auto n = e.path().filename().string();
    if (n.rfind(".hone-tmp-", 0) == 0 || n.find(".restore-") != std::string::npos) return 0;
  }
  return 1;
}

/// Verify and restore of the compact backup plain.db.gz.age in `backups` (a plain image sealed
/// as `age -p` would) over a small database in `data`, a small disk of `disk_size` there (else
/// a file size limit of `limit` bytes): both must fail with an io_error whose message holds
/// `part` and the reason, the database as it was and nothing left in the folder.
void compact_restore_on_a_full_disk(const fs::path& data, const fs::path& backups, const char* disk_size, rlim_t limit,
                                    const std::string& part) {
  small_disk disk(data, disk_size);
  const auto target = data / "hone.db";
  make_hone_db(target, test_key(), {.transactions = 10, .wal = false});
  const auto before = read_file(target);
  sqlcipher_exporter::options o;
  o.key = test_key();
  age_compressor_options a;
  a.identities.push_back(age::passphrase_identity{"a passphrase"});
  runner_options ro;
  ro.temp_directory = data;  // verify's copy goes to the small disk too
  BackupRunner<sqlcipher_page_exporter, age_compressor<>, local_directory, fake_clock> r(
      sqlcipher_page_exporter(target, o), age_compressor<>(a), local_directory(backups), fake_clock{}, ro);
  auto attempt = [&](const char* reason) {
    for (int op = 0; op < 2; ++op) {
      try {
        if (op == 0) (void)r.verify("plain.db.gz.age");
        if (op == 1) r.restore("plain.db.gz.age", target, true);
        return 1;
      } catch (const io_error& e) {
        const std::string m = e.what();
        BOOST_TEST_MESSAGE(m);
        if (m.find(part) == std::string::npos || m.find(reason) == std::string::npos) return 2;
      } catch (...) {
        return 3;
      }
    }
    return 0;
  };
  if (disk.ok)
    BOOST_TEST(attempt("No space left on device") == 0, part);
  else
    BOOST_TEST(with_file_size_limit(limit, [&] { return attempt("too large"); }) == 0, part);
  BOOST_TEST((read_file(target) == before));
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(data)) left.push_back(e.path().filename().string());
  BOOST_TEST(left == std::vector<std::string>{"hone.db"}, boost::test_tools::per_element());
}
}  // namespace

BOOST_AUTO_TEST_SUITE(disk_full)

BOOST_AUTO_TEST_CASE(create_on_a_full_disk_fails_and_leaves_nothing) {
  scratch_dir dir("full-create");
  make_hone_db(dir / "db", test_key(), {.transactions = 20000});  // ~2 MB of ciphertext
  const auto db_size = fs::file_size(dir / "db");
  small_disk disk(dir / "backups", "512k");
  if (disk.ok) {
    auto r = make_runner(dir / "db", dir / "backups", dir.path());
    try {
      r.create();
      BOOST_FAIL("create must fail on a full disk");
    } catch (const io_error& e) {
      BOOST_TEST(std::string(e.what()).find("No space left on device") != std::string::npos, e.what());
    }
    BOOST_TEST(r.list().empty());
    BOOST_TEST(no_temp_leftovers(dir / "backups") == 1);
  } else {
    BOOST_TEST_MESSAGE("tmpfs not mountable here; using RLIMIT_FSIZE");
    // Big enough for the export, too small for the gzip output of incompressible data (which
    // is the export plus a few bytes of framing).
    sqlcipher_exporter::options o;
    o.counts = hone_test::hone_count_queries();
    o.key = test_key();
    sqlcipher_exporter(dir / "db", o).export_to(dir / "probe.db", {});
    const auto export_size = fs::file_size(dir / "probe.db");
    BOOST_TEST(export_size <= db_size);
    int rc = with_file_size_limit(export_size + 16, [&] {
      auto r = make_runner(dir / "db", dir / "backups", dir.path());
      try {
        r.create();
        return 1;
      } catch (const io_error& e) {
        return std::string(e.what()).find("too large") != std::string::npos ? 0 : 2;
      } catch (...) {
        return 3;
      }
    });
    BOOST_TEST(rc == 0);
    auto r = make_runner(dir / "db", dir / "backups", dir.path());
    BOOST_TEST(r.list().empty());
    BOOST_TEST(no_temp_leftovers(dir / "backups") == 1);
  }
}

BOOST_AUTO_TEST_CASE(export_on_a_full_temp_disk_reports_sqlcipher_export_failed) {
  scratch_dir dir("full-export");
  make_hone_db(dir / "db", test_key(), {.transactions = 20000});
  small_disk disk(dir / "tmp", "256k");
  if (!disk.ok) {
    int rc = with_file_size_limit(128 * 1024, [&] {
      auto r = make_runner(dir / "db", dir / "backups", dir.path());
      try {
        r.create();
        return 1;
      } catch (const export_error& e) {
        return std::string(e.what()).rfind("sqlcipher_export failed", 0) == 0 ? 0 : 2;
      } catch (...) {
        return 3;
      }
    });
    BOOST_TEST(rc == 0);
    return;
  }
  auto r = make_runner(dir / "db", dir / "backups", dir / "tmp");
  try {
    r.create();
    BOOST_FAIL("create must fail when the export cannot be written");
  } catch (const export_error& e) {
    BOOST_TEST(std::string(e.what()).rfind("sqlcipher_export failed", 0) == 0, e.what());
  }
  BOOST_TEST(r.list().empty());
  BOOST_TEST(fs::is_empty(dir / "tmp"));  // the private export folder is gone
}

BOOST_AUTO_TEST_CASE(restore_on_a_full_disk_leaves_the_database_untouched) {
  scratch_dir dir("full-restore");
  make_hone_db(dir / "big.db", test_key(), {.transactions = 20000});
  auto r = make_runner(dir / "big.db", dir / "backups", dir.path());
  auto info = r.create();
  small_disk disk(dir / "data", "1m");
  const auto target = dir / "data" / "hone.db";
  make_hone_db(target, test_key(), {.transactions = 10, .wal = false});
  const auto before = read_file(target);
  if (disk.ok) {
    BOOST_CHECK_THROW(r.restore(info.name, target, true), io_error);
  } else {
    int rc = with_file_size_limit(512 * 1024, [&] {
      try {
        r.restore(info.name, target, true);
        return 1;
      } catch (const io_error&) {
        return 0;
      } catch (...) {
        return 3;
      }
    });
    BOOST_TEST(rc == 0);
  }
  BOOST_TEST((read_file(target) == before));
  BOOST_TEST(no_temp_leftovers(dir / "data") == 1);
}

// A plain image (what sqlite3 makes, sealed as `age -p` would) is converted through an
// encrypted scratch file beside the target: when that file, or then the new database, cannot
// be written, verify and restore fail with the reason, and the database stays as it was.
BOOST_AUTO_TEST_CASE(compact_plain_image_on_a_full_disk_changes_nothing) {
  if (!sqlcipher_page_exporter::supported()) {
    BOOST_TEST_MESSAGE("skipped: the linked SQLCipher lacks sqlite_dbpage, so the compact format is unavailable");
    return;
  }
  scratch_dir dir("full-scratch");
  make_plain_image(dir / "plain.db", "MARKER-full-scratch", 1000);  // 4 MB, deflating to little
  seal_as_age_p(dir / "plain.db", dir / "backups" / "plain.db.gz.age", "a passphrase");
  const auto image = fs::file_size(dir / "plain.db");
  // The scratch file does not fit.
  compact_restore_on_a_full_disk(dir / "data1", dir / "backups", "3m", 1 << 20, "scratch copy");
  // The scratch file fits, the new database (larger: its pages keep room for IV and HMAC) not.
  compact_restore_on_a_full_disk(dir / "data2", dir / "backups", "6m", image + 256 * 1024, "cannot be written to");
}

BOOST_AUTO_TEST_CASE(verify_removes_its_temp_files_on_every_outcome) {
  scratch_dir dir("verify-tmp");
  make_hone_db(dir / "db", test_key(), {.transactions = 500});
  fs::create_directories(dir / "tmp");
  auto r = make_runner(dir / "db", dir / "backups", dir / "tmp");
  auto info = r.create();
  auto bytes = read_file(dir / "backups" / info.name);
  write_file(dir / "backups" / "cut.db.gz", std::vector<char>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  BOOST_TEST(r.verify(info.name).valid);
  BOOST_TEST(!r.verify("cut.db.gz").valid);
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = other_key();
  runner_options ro;
  ro.temp_directory = dir / "tmp";
  runner_t wrong(sqlcipher_exporter(dir / "db", o), gzip_compressor{}, local_directory(dir / "backups"), fake_clock{},
                 ro);
  BOOST_TEST(!wrong.verify(info.name).valid);
  BOOST_CHECK_THROW(wrong.restore(info.name, dir / "restored.db", false), encryption_error);
  BOOST_TEST(!fs::exists(dir / "restored.db"));
  BOOST_TEST(fs::is_empty(dir / "tmp"));
  BOOST_TEST(no_temp_leftovers(dir.path()) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
