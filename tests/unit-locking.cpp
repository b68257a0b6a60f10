// The backup lock serializes threads and processes, a backup process killed with SIGKILL at
// any moment leaves only complete backups behind, and two restores of one database (from two
// destinations) never run at the same time.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <sys/wait.h>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {
using runner_t = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

runner_t make_runner(const fs::path& db, const fs::path& backups, const fs::path& tmp, fake_clock clock = {}) {
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = tmp;
  return runner_t(sqlcipher_exporter(db, o), gzip_compressor{}, local_directory(backups), clock, ro);
}
/// A local_directory whose open() waits until released: a restore from it stops while its
/// temporary file beside the database exists.
class gated_directory : public local_directory {
 public:
  struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, released = false;
  };
  gated_directory(fs::path dir, std::shared_ptr<gate> g) : local_directory(std::move(dir)), gate_(std::move(g)) {}
  std::unique_ptr<reader> open(const std::string& name) const {
    std::unique_lock lk(gate_->m);
    gate_->entered = true;
    gate_->cv.notify_all();
    gate_->cv.wait(lk, [&] { return gate_->released; });
    return local_directory::open(name);
  }

 private:
  std::shared_ptr<gate> gate_;
};

std::vector<fs::path> restore_temp_files(const fs::path& db) {
  std::vector<fs::path> out;
  const std::string stem = "." + db.filename().string() + ".restore-";
  for (auto& e : fs::directory_iterator(db.parent_path()))
    if (e.path().filename().string().rfind(stem, 0) == 0) out.push_back(e.path());
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(locking)

BOOST_AUTO_TEST_CASE(two_restores_of_one_database_from_two_destinations_take_the_same_lock) {
  scratch_dir dir("restore-lock");
  const fs::path db = dir / "live" / "hone.db";
  fs::create_directories(db.parent_path());
  make_hone_db(db, test_key(), {.transactions = 30});
  const std::string before = dump(db, test_key());
  // The same backup in two folders: the "local" one and a copy standing for the bucket.
  const std::string name = make_runner(db, dir / "local", dir.path()).create().name;
  fs::create_directories(dir / "offsite");
  fs::copy_file(dir / "local" / name, dir / "offsite" / name);

  auto g = std::make_shared<gated_directory::gate>();
  sqlcipher_exporter::options o;
  o.counts = hone_test::hone_count_queries();
  o.key = test_key();
  runner_options ro;
  ro.temp_directory = dir.path();
  BackupRunner<sqlcipher_exporter, gzip_compressor, gated_directory, fake_clock> first(
      sqlcipher_exporter(db, o), gzip_compressor{}, gated_directory(dir / "offsite", g), fake_clock{}, ro);
  auto running = std::async(std::launch::async, [&] { return first.restore(name, db, true); });
  {
    std::unique_lock lk(g->m);
    BOOST_REQUIRE(g->cv.wait_for(lk, 60s, [&] { return g->entered; }));
  }
  const auto temp_of_first = restore_temp_files(db);
  BOOST_REQUIRE(temp_of_first.size() == 1u);

  // The second restore, from the other destination, is refused at once and says which restore
  // is running; it removes nothing of the first's.
  auto second = make_runner(db, dir / "local", dir.path());
  std::string message;
  try {
    second.restore(name, db, true);
    BOOST_ERROR("a second restore of the same database ran while the first was in progress");
  } catch (const database_busy_error& e) {
    message = e.what();
  }
  BOOST_TEST(message.find("Another restore of " + db.string() + " is in progress") != std::string::npos, message);
  BOOST_TEST(message.find("restore of backup " + name) != std::string::npos, message);
  BOOST_TEST(restore_temp_files(db) == temp_of_first);
  BOOST_TEST(dump(db, test_key()) == before);  // not replaced by the refused one

  {
    std::lock_guard lk(g->m);
    g->released = true;
    g->cv.notify_all();
  }
  const restore_result r = running.get();
  BOOST_TEST(r.restored);
  BOOST_TEST(dump(db, test_key()) == before);
  BOOST_TEST(restore_temp_files(db).empty());
  BOOST_TEST(!fs::exists(db.parent_path() / ".hone.db.restore.lock"), "the lock file goes with the lock");
  // Once the first is done, the lock is free again.
  BOOST_TEST(second.restore(name, db, true).restored);
  BOOST_TEST(dump(db, test_key()) == before);
}

BOOST_AUTO_TEST_CASE(concurrent_creates_in_the_same_second_lose_nothing) {
  scratch_dir dir("lock-threads");
  make_hone_db(dir / "db", test_key(), {.transactions = 50});
  fake_clock clock;  // every thread sees the same second
  std::vector<std::string> names[4];
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto r = make_runner(dir / "db", dir / "backups", dir.path(), clock);  // separate runners, one folder
      for (int i = 0; i < 5; ++i) {
        try {
          names[t].push_back(r.create().name);
        } catch (const std::exception& e) {
          ++failures;
        }
      }
    });
  for (auto& th : threads) th.join();
  BOOST_TEST(failures.load() == 0);
  std::set<std::string> all;
  for (auto& v : names) all.insert(v.begin(), v.end());
  BOOST_TEST(all.size() == 20u);
  auto r = make_runner(dir / "db", dir / "backups", dir.path(), clock);
  auto listed = r.list();
  BOOST_TEST(listed.size() == 20u);
  for (auto& b : listed) BOOST_TEST(all.count(b.name) == 1u);
}

BOOST_AUTO_TEST_CASE(lock_excludes_another_process) {
  scratch_dir dir("lock-proc");
  make_hone_db(dir / "db", test_key(), {.transactions = 5});
  auto r = make_runner(dir / "db", dir / "backups", dir.path());
  r.create();
  int ready[2], release[2];
  BOOST_REQUIRE(::pipe(ready) == 0 && ::pipe(release) == 0);
  pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    local_directory d(dir / "backups");
    auto held = d.lock();
    char c = 'x';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);  // hold the lock until the parent says so
    ::_exit(0);
  }
  char c;
  BOOST_REQUIRE(::read(ready[0], &c, 1) == 1);
  std::atomic<bool> pruned{false};
  std::thread t([&] {
    r.prune(1);
    pruned = true;
  });
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(!pruned.load());  // blocked by the other process's lock
  (void)!::write(release[1], &c, 1);
  t.join();
  BOOST_TEST(pruned.load());
  int status = 0;
  ::waitpid(child, &status, 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

BOOST_AUTO_TEST_CASE(kill_9_during_create_leaves_only_complete_backups) {
  scratch_dir dir("kill9");
  make_hone_db(dir / "db", test_key(), {.transactions = 60000});  // a few MB: create takes a while
  const auto backups = dir / "backups";
  int killed_mid_write = 0;
  for (int round = 0; round < 6; ++round) {
    int writing[2];
    BOOST_REQUIRE(::pipe(writing) == 0);
    pid_t child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
      fake_clock clock(time_point{std::chrono::seconds{1705329022 + round * 100}});
      auto r = make_runner(dir / "db", backups, dir.path(), clock);
      bool told = false;
      r.options().observer = [&](const event& e) {
        if (!told && e.stage == "compress" && e.done > 0) {
          told = true;
          char c = 'w';
          (void)!::write(writing[1], &c, 1);
        }
      };
      for (;;) {
        r.create();
        clock.advance(1s);
      }
    }
    // Odd rounds: kill while the first backup is being written. Even rounds: at a varying
    // moment (export, write, or between backups).
    if (round % 2) {
      char c;
      BOOST_REQUIRE(::read(writing[0], &c, 1) == 1);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(30 + 100 * round));
    }
    ::close(writing[0]);
    ::close(writing[1]);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    BOOST_TEST(WIFSIGNALED(status));
    for (auto& e : fs::directory_iterator(backups))
      if (e.path().filename().string().rfind(".hone-tmp-", 0) == 0) ++killed_mid_write;
    auto r = make_runner(dir / "db", backups, dir.path());
    for (auto& b : r.list()) {
      auto v = r.verify(b.name);
      BOOST_TEST(v.valid, b.name << ": " << v.message);
      BOOST_TEST(b.problem.empty());
    }
  }
  auto r = make_runner(dir / "db", backups, dir.path(), fake_clock(time_point{std::chrono::seconds{1800000000}}));
  r.create();  // cleans leftovers
  for (auto& e : fs::directory_iterator(backups)) BOOST_TEST(e.path().filename().string().rfind(".hone-tmp-", 0) != 0);
  BOOST_TEST_MESSAGE(killed_mid_write << " of 6 kills left a partial temp file behind; none was listed");
  BOOST_TEST(killed_mid_write >= 1);  // the interesting case did happen
  // Private export folders of killed processes stay in the temp directory only.
  for (auto& e : fs::directory_iterator(backups))
    BOOST_TEST(e.path().filename().string().find("export") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
