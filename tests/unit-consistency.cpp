// Backups taken while another connection commits are consistent snapshots, and in WAL mode
// the writer is never blocked.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <atomic>
#include <set>
#include <thread>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

using runner_t = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

void make_ledger(const fs::path& p, const database_key& key, bool wal) {
  make_hone_db(p, key, {.transactions = 100, .wal = wal});
  auto db = open_rw(p, key);
  detail::exec(db.get(), "CREATE TABLE ledger(id INTEGER PRIMARY KEY AUTOINCREMENT, pair INTEGER, amount INTEGER)");
  detail::exec(db.get(), "CREATE TABLE totals(id INTEGER PRIMARY KEY CHECK (id = 1), pairs INTEGER)");
  detail::exec(db.get(), "INSERT INTO totals VALUES (1, 0)");
}

struct writer_stats {
  std::atomic<long> commits{0};
  std::atomic<long> busy{0};
  std::atomic<long> other_errors{0};
};

/// Commits pairs of rows that sum to zero, and bumps a counter in a second table, in one
/// transaction each: a backup that mixes two states breaks one of the invariants.
void run_writer(const fs::path& p, const database_key& key, bool wal, std::atomic<bool>& stop, writer_stats& st) {
  auto db = open_rw(p, key);
  // WAL: no busy timeout at all, so any blocking shows up as SQLITE_BUSY.
  sqlite3_busy_timeout(db.get(), wal ? 0 : 5000);
  long i = 0;
  while (!stop.load()) {
    ++i;
    int rc = sqlite3_exec(db.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      detail::statement a(db.get(), "INSERT INTO ledger(pair, amount) VALUES (?1, ?2), (?1, -?2)");
      a.bind(1, std::int64_t(i)).bind(2, std::int64_t(i % 977 + 1));
      rc = sqlite3_step(a.get());
      if (rc == SQLITE_DONE)
        rc = sqlite3_exec(db.get(), "UPDATE totals SET pairs = pairs + 1", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) rc = sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);
    }
    if (rc == SQLITE_OK) {
      ++st.commits;
    } else {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        ++st.busy;
      else
        ++st.other_errors;
    }
  }
}

void check_invariants(const fs::path& p, const database_key& key) {
  auto db = detail::open_database(p, SQLITE_OPEN_READONLY, key);
  detail::statement s(db.get(),
                      "SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger), (SELECT COUNT(*) FROM ledger), "
                      "(SELECT pairs FROM totals), (SELECT COALESCE(MAX(id), 0) FROM ledger), "
                      "(SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'ledger'), 0))");
  BOOST_REQUIRE(s.step());
  BOOST_TEST(s.column_int(0) == 0);                    // pairs sum to zero
  BOOST_TEST(s.column_int(1) == 2 * s.column_int(2));  // counter matches the rows
  BOOST_TEST(s.column_int(3) == s.column_int(4));      // AUTOINCREMENT sequence = max id
}

void consistency_run(bool wal, export_method method) {
  scratch_dir dir("consistency");
  const auto db = dir / "live.db";
  const auto key = test_key();
  make_ledger(db, key, wal);
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = key;
  o.method = method;
  runner_options ro;
  ro.temp_directory = dir.path();
  fake_clock clock;
  runner_t r(sqlcipher_exporter(db, o), gzip_compressor{}, local_directory(dir / "backups"), clock, ro);

  std::atomic<bool> stop{false};
  writer_stats st;
  std::thread w([&] { run_writer(db, key, wal, stop, st); });
  while (st.commits.load() < 50) std::this_thread::sleep_for(1ms);

  std::vector<std::string> names;
  std::vector<long> commits_at;
  struct join_writer {
    std::atomic<bool>& stop;
    std::thread& w;
    ~join_writer() {
      stop = true;
      if (w.joinable()) w.join();
    }
  } joiner{stop, w};
  for (int i = 0; i < 20; ++i) {
    names.push_back(r.create().name);
    commits_at.push_back(st.commits.load());
    clock.advance(1s);
  }
  stop = true;
  w.join();

  BOOST_TEST(st.other_errors.load() == 0);
  if (wal) BOOST_TEST(st.busy.load() == 0);            // readers never block a WAL writer
  BOOST_TEST(commits_at.back() > commits_at.front());  // the writer kept going during backups
  std::set<std::int64_t> distinct_pairs;
  for (auto& n : names) {
    BOOST_TEST_CONTEXT("backup " << n) {
      auto restored = dir / ("restored-" + n + ".db");
      r.restore(n, restored, false);
      check_invariants(restored, key);
      auto c = sqlcipher_exporter(restored, o).check(restored);
      BOOST_TEST(c.valid, c.message);
      auto rdb = detail::open_database(restored, SQLITE_OPEN_READONLY, key);
      detail::statement s(rdb.get(), "SELECT pairs FROM totals");
      BOOST_REQUIRE(s.step());
      distinct_pairs.insert(s.column_int(0));
    }
  }
  BOOST_TEST(distinct_pairs.size() > 1u);  // the backups saw different states
  BOOST_TEST_MESSAGE("wal=" << wal << " method=" << int(method) << ": " << st.commits.load() << " commits, "
                            << st.busy.load() << " busy during 20 backups");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(consistency)

BOOST_AUTO_TEST_CASE(wal_sqlcipher_export) { consistency_run(true, export_method::sqlcipher_export); }
BOOST_AUTO_TEST_CASE(wal_backup_api) { consistency_run(true, export_method::backup_api); }
BOOST_AUTO_TEST_CASE(rollback_journal_sqlcipher_export) { consistency_run(false, export_method::sqlcipher_export); }
BOOST_AUTO_TEST_CASE(rollback_journal_backup_api) { consistency_run(false, export_method::backup_api); }

BOOST_AUTO_TEST_SUITE_END()
