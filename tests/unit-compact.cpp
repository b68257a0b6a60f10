// The compact format (NAME.db.gz.age) end to end on real SQLCipher files: sqlcipher_page_exporter
// + age_compressor in BackupRunner: round trip, both formats in one folder, wrong key, damage.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <hone/backup.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <string_view>

#include <csignal>

#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
  compact_runner make(bool seal = true, std::string_view pass = passphrase, observer_fn observer = {}) {
    sqlcipher_exporter::options o;
    o.key = test_key();
    o.counts = hone_count_queries();
    age_compressor_options a;
    a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
    a.identities.push_back(age::passphrase_identity{std::string(pass)});
    a.seal = seal;
    runner_options ro;
    ro.temp_directory = dir.path();
    ro.observer = std::move(observer);
    return compact_runner(sqlcipher_page_exporter(db, o), age_compressor<>(a), local_directory(backups), clock, ro);
  }
};

bool contains(const std::vector<char>& bytes, std::string_view s) {
  return std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) != bytes.end();
}

bool contains(std::span<const std::byte> bytes, std::string_view s) {
  const auto* b = reinterpret_cast<const char*>(bytes.data());
  return std::search(b, b + bytes.size(), s.begin(), s.end()) != b + bytes.size();
}

/// The names in a folder.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM).
long status_kib(std::string_view field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(std::string(field) + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

/// Starts measuring the process's peak resident memory (VmHWM) afresh: free heap memory goes
/// back to the system, and the kernel resets the peak to what is resident now.
bool reset_peak_memory() {
  ::malloc_trim(0);
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
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
  seal_as_age_p(plain, f.backups / "by-hand.db.gz.age", passphrase);
  auto r = f.make();
  auto v = r.verify("by-hand.db.gz.age");
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(*v.counts["transactions"] == 500);
  const fs::path target = f.dir / "from-plain.db";
  r.restore("by-hand", target, false);
  BOOST_TEST(dump(target, test_key()) == dump(plain, database_key::none()));
  BOOST_TEST((detail::classify_database_file(target) == detail::database_kind::encrypted));
}

BOOST_AUTO_TEST_CASE(offset_cipher_encrypts_any_range_on_its_own) {
  std::vector<std::byte> plain(70000);
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = std::byte(static_cast<unsigned char>(i % 251));
  std::memcpy(plain.data() + 33333, marker.data(), marker.size());
  detail::offset_cipher c;
  std::vector<std::byte> whole(plain.size()), pieces(plain.size()), back(plain.size()), other(plain.size());
  BOOST_REQUIRE(c.apply(0, plain.data(), whole.data(), plain.size()));
  // Pieces at offsets that are no multiple of the block size give the bytes of the whole.
  const std::size_t cuts[] = {0, 1, 7, 16, 100, 4099, 33340, 65536, 65537, plain.size()};
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i)
    BOOST_REQUIRE(c.apply(cuts[i], plain.data() + cuts[i], pieces.data() + cuts[i], cuts[i + 1] - cuts[i]));
  BOOST_TEST((pieces == whole));
  BOOST_TEST(!contains(whole, marker));
  BOOST_REQUIRE(c.apply(0, whole.data(), back.data(), whole.size()));
  BOOST_TEST((back == plain));
  // Another object has a key of its own.
  detail::offset_cipher c2;
  BOOST_REQUIRE(c2.apply(0, plain.data(), other.data(), plain.size()));
  BOOST_TEST((other != whole));
}

BOOST_AUTO_TEST_CASE(sealed_scratch_holds_ciphertext_only_and_sqlite_reads_it_decrypted) {
  scratch_dir dir("sealed");
  const fs::path plain = dir / "plain.db";
  make_plain_image(plain, marker, 40);
  const auto image = read_file(plain);
  const auto before = names_in(dir.path());
  {
    detail::sealed_scratch s(dir / ".hone.db.restore-AbC123");
    BOOST_TEST((names_in(dir.path()) == before));  // the file has no name in the folder
    struct stat st {};
    BOOST_REQUIRE(::fstat(s.descriptor(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
    BOOST_TEST(st.st_nlink == 0u);
    const auto bytes = std::as_bytes(std::span(image));
    s.write(bytes.first(1000));  // in uneven pieces, as pages arrive
    s.write(bytes.subspan(1000, 5000));
    s.write(bytes.subspan(6000));
    BOOST_TEST(s.size() == image.size());
    auto db = s.open();
    std::vector<char> on_disk(image.size() + 1);
    BOOST_TEST(::pread(s.descriptor(), on_disk.data(), on_disk.size(), 0) == static_cast<ssize_t>(image.size()));
    on_disk.resize(image.size());
    BOOST_TEST(!contains(on_disk, marker));
    BOOST_TEST(!contains(on_disk, "SQLite format 3"));
    BOOST_TEST(contains(image, marker));
    detail::statement q(db.get(), "SELECT name FROM accounts WHERE id = 1");
    BOOST_REQUIRE(q.step());
    BOOST_TEST(q.column_text(0) == marker);
    detail::statement check(db.get(), "PRAGMA integrity_check");
    BOOST_REQUIRE(check.step());
    BOOST_TEST(check.column_text(0) == "ok");
    BOOST_CHECK_THROW(detail::exec(db.get(), "CREATE TABLE t(a)"), hone::backup::error);  // read-only
  }
  BOOST_TEST((names_in(dir.path()) == before));
}

BOOST_AUTO_TEST_CASE(without_o_tmpfile_the_scratch_file_is_unlinked_at_once_under_a_name_cleanup_knows) {
  scratch_dir dir("unlinked");
  const auto before = names_in(dir.path());
  std::vector<std::string> named;
  std::string restore_scratch;
  auto hook = [&](const fs::path& p, bool created) {
    if (created) named.push_back(p.filename().string());
  };
  for (const char* beside : {".hone.db.restore-AbC123", "new.db"}) {
    named.clear();
    detail::unique_fd fd = detail::create_unlinked_file(dir.path(), beside, hook);
    BOOST_REQUIRE(fd);
    BOOST_REQUIRE(named.size() == 1u);
    const std::string stem = beside[0] == '.' ? ".hone.db.restore-" : ".new.db.scratch-";
    BOOST_TEST(named[0].size() == stem.size() + 6);
    BOOST_TEST(named[0].rfind(stem, 0) == 0u, named[0]);
    BOOST_TEST((names_in(dir.path()) == before));  // already gone from the folder
    struct stat st {};
    BOOST_REQUIRE(::fstat(fd.get(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
    BOOST_TEST(st.st_nlink == 0u);
    if (beside[0] == '.') restore_scratch = named[0];
  }
  // Were a restore killed while its scratch had that name, the next one's cleanup takes it.
  { std::ofstream(dir / restore_scratch) << "left by a killed restore"; }
  detail::remove_stale_restore_files(dir.path(), ".hone.db.restore-");
  BOOST_TEST((names_in(dir.path()) == before));
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool built_with_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool built_with_address_sanitizer = true;
#else
constexpr bool built_with_address_sanitizer = false;
#endif
#else
constexpr bool built_with_address_sanitizer = false;
#endif

BOOST_AUTO_TEST_CASE(a_plain_image_larger_than_the_memory_limit_loads_in_bounded_memory) {
  REQUIRE_DBPAGE();
  fixture f;
  // 27,000 pages of 4 KiB (110 MB), written by plain SQLite: no reserved bytes, so the loader
  // converts it through its sealed scratch file.
  const fs::path plain = f.dir / "big-plain.db";
  make_plain_image(plain, marker, 27000);
  const auto image_size = fs::file_size(plain);
  BOOST_REQUIRE(image_size > std::uintmax_t{100} << 20);
  seal_as_age_p(plain, f.backups / "big.db.gz.age", passphrase);
  const std::string expected = plain_image_summary(plain, database_key::none());
  fs::remove(plain);
  const auto files_before = names_in(f.dir.path());
  auto r = f.make();
  const fs::path target = f.dir / "big-restored.db";
  BOOST_REQUIRE(reset_peak_memory());
  const long rss_before = status_kib("VmRSS");
  const auto t0 = std::chrono::steady_clock::now();
  auto v = r.verify("big.db.gz.age");
  const auto t1 = std::chrono::steady_clock::now();
  r.restore("big", target, false);
  const auto t2 = std::chrono::steady_clock::now();
  const long growth_kib = status_kib("VmHWM") - rss_before;
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  BOOST_TEST_MESSAGE("plain image of " << image_size / 1048576.0 << " MiB: verify " << secs(t1 - t0) << " s, restore "
                                       << secs(t2 - t1) << " s, peak RSS growth " << growth_kib / 1024.0 << " MiB");
  BOOST_TEST(v.valid, v.message);
  if (built_with_address_sanitizer)
    BOOST_TEST_MESSAGE(
        "memory bound not checked: AddressSanitizer keeps freed memory in quarantine and adds shadow "
        "memory, so RSS says nothing of the loader's own use here (checked in the plain build)");
  else
    BOOST_TEST(growth_kib < 64 * 1024);
  BOOST_TEST(plain_image_summary(target, test_key()) == expected);
  BOOST_TEST((detail::classify_database_file(target) == detail::database_kind::encrypted));
  BOOST_TEST(!file_contains(target, marker));
  auto files_after = names_in(f.dir.path());
  files_after.erase("big-restored.db");
  BOOST_TEST((files_after == files_before));  // no scratch, no temp file left
}

BOOST_AUTO_TEST_CASE(a_restore_killed_while_converting_leaves_only_what_the_next_restore_removes) {
  REQUIRE_DBPAGE();
  fixture f;
  const fs::path plain = f.dir / "plain.db";
  make_plain_image(plain, marker, 1000);  // 4 MB: several decompressed buffers
  seal_as_age_p(plain, f.backups / "plain.db.gz.age", passphrase);
  const fs::path data = f.dir / "data";
  fs::create_directories(data);
  const std::string folder = fs::canonical(data).string() + "/";
  const fs::path target = data / "hone.db";
  const pid_t pid = ::fork();
  if (pid == 0) {
    int events = 0;
    auto r = f.make(true, passphrase, [&](const event& e) {
      if (e.what != event::kind::progress || e.stage != "decompress" || ++events < 2) return;
      // Killed while the scratch file is open: a descriptor on a file in `data` without a name.
      for (auto& fd : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const std::string to = fs::read_symlink(fd.path(), ec).string();
        if (to.rfind(folder, 0) == 0 && to.find(" (deleted)") != std::string::npos) ::raise(SIGKILL);
      }
      ::_exit(2);
    });
    try {
      r.restore("plain.db.gz.age", target, false);
    } catch (...) {
    }
    ::_exit(3);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE_MESSAGE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child ended with status " << status);
  // Left: the restore's lock and its temp file, both of which the next restore removes.
  for (const auto& n : names_in(data))
    BOOST_TEST((n == ".hone.db.restore.lock" || (n.rfind(".hone.db.restore-", 0) == 0 && n.size() == 23)), n);
  f.make().restore("plain.db.gz.age", target, false);
  BOOST_TEST((names_in(data) == std::set<std::string>{"hone.db"}));
  BOOST_TEST(plain_image_summary(target, test_key()) == plain_image_summary(plain, database_key::none()));
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
