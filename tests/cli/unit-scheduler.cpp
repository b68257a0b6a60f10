// The built-in scheduler (hone/backup/scheduler.hpp) driven by fake_clock: no sleeps. The test
// thread advances the fake time and synchronises on the scheduler's own log lines (it logs
// "next scheduled backup at T" right before it waits), so every step is deterministic.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <condition_variable>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

using mem_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, memory_destination, fake_clock>;
using disk_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, local_directory, fake_clock>;

const time_point t0 = fake_clock{}.now();  // 2024-01-15T14:30:22Z

/// Collects the scheduler's log lines and lets the test wait for them (real-time timeout only
/// as a safety net; nothing sleeps).
class log_recorder {
 public:
  log_fn fn() {
    return [this](log_level l, const std::string& m) {
      {
        std::lock_guard lk(m_);
        lines_.emplace_back(l, m);
      }
      cv_.notify_all();
    };
  }
  std::size_t count(std::string_view needle) {
    std::lock_guard lk(m_);
    return count_locked(needle);
  }
  /// Waits until `n` lines contain `needle`.
  bool wait_for(std::string_view needle, std::size_t n, std::chrono::seconds timeout = 60s) {
    std::unique_lock lk(m_);
    return cv_.wait_for(lk, timeout, [&] { return count_locked(needle) >= n; });
  }
  /// The n-th (1-based) line containing `needle`.
  std::pair<log_level, std::string> nth(std::string_view needle, std::size_t n) {
    std::lock_guard lk(m_);
    for (auto& [l, m] : lines_)
      if (m.find(needle) != std::string::npos && --n == 0) return {l, m};
    return {log_level::debug, ""};
  }
  std::string all() {
    std::lock_guard lk(m_);
    std::string s;
    for (auto& [l, m] : lines_) s += std::string(to_string(l)) + " " + m + "\n";
    return s;
  }

 private:
  std::size_t count_locked(std::string_view needle) {
    std::size_t n = 0;
    for (auto& [l, m] : lines_) n += m.find(needle) != std::string::npos;
    return n;
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::pair<log_level, std::string>> lines_;
};

constexpr std::string_view next_line = "next scheduled backup at ";

struct fixture {
  scratch_dir dir{"sched"};
  fs::path db = dir / "hone.db";
  fake_clock clock;
  memory_destination dest;
  log_recorder rec;

  fixture() {
    dest.modified_time = [c = clock]() mutable { return c.now(); };
  }

  void make_db() { make_hone_db(db, test_key(), {.accounts = 2, .transactions = 20, .subscriptions = 1}); }

  mem_runner runner() {
    sqlcipher_exporter::options o;
    o.key = test_key();
    runner_options ro;
    ro.temp_directory = dir.path();
    return mem_runner(sqlcipher_exporter(db, o), gzip_compressor{}, dest, clock, ro);
  }

  std::vector<std::string> names(mem_runner& r) {
    std::vector<std::string> out;
    for (auto& b : r.list()) out.push_back(b.name);
    return out;
  }
};

std::string due_line(time_point t) { return std::string(next_line) + iso8601(t); }

}  // namespace

BOOST_AUTO_TEST_SUITE(scheduler)

BOOST_AUTO_TEST_CASE(parse_schedule_cases) {
  struct row {
    const char* schedule;
    const char* retention;
    bool enabled;
    std::chrono::nanoseconds interval;
    long long retention_value;
    const char* reason_part;
  };
  const row rows[] = {
      {nullptr, nullptr, false, 0ns, 7, "HONE_BACKUP_SCHEDULE is not set"},
      {"", nullptr, false, 0ns, 7, "HONE_BACKUP_SCHEDULE is not set"},
      {"0", nullptr, false, 0ns, 7, "is not positive"},
      {"0.0", nullptr, false, 0ns, 7, "is not positive"},
      {"-24", nullptr, false, 0ns, 7, "is not positive"},
      {"daily", nullptr, false, 0ns, 7, "is not a number of hours"},
      {"24h", nullptr, false, 0ns, 7, "is not a number of hours"},
      {"nan", nullptr, false, 0ns, 7, "is not a number of hours"},
      {"inf", nullptr, false, 0ns, 7, "is not a number of hours"},
      {"1e12", nullptr, false, 0ns, 7, "is too large"},
      {"24", nullptr, true, 24h, 7, "enabled: every 24 h, keeping 7 backups"},
      {"168", "14", true, 168h, 14, "keeping 14 backups"},
      {"0.5", "", true, 30min, 7, "every 0.5 h"},
      {"0.0005", "1", true, 1800ms, 1, "keeping 1 backups"},
      {"24", "0", false, 0ns, 7, "HONE_BACKUP_RETENTION='0'"},
      {"24", "-3", false, 0ns, 7, "HONE_BACKUP_RETENTION='-3'"},
      {"24", "seven", false, 0ns, 7, "HONE_BACKUP_RETENTION='seven'"},
      {"24", "2.5", false, 0ns, 7, "HONE_BACKUP_RETENTION='2.5'"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("schedule=" << (r.schedule ? r.schedule : "(unset)")
                                   << " retention=" << (r.retention ? r.retention : "(unset)")) {
      auto c = parse_schedule(r.schedule, r.retention);
      BOOST_TEST(c.enabled == r.enabled);
      BOOST_TEST(c.reason.find(r.reason_part) != std::string::npos, "reason: " << c.reason);
      if (r.enabled) {
        BOOST_TEST(c.interval.count() == r.interval.count());
        BOOST_TEST(c.retention == r.retention_value);
        BOOST_TEST(c.reason.find("backup scheduler enabled") == 0u);
      } else {
        BOOST_TEST(c.reason.find("backup scheduler disabled") == 0u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_settings) {
  fixture f;
  auto r = f.runner();
  BOOST_CHECK_THROW(backup_scheduler<mem_runner>(r, 0ns, 7), invalid_argument_error);
  BOOST_CHECK_THROW(backup_scheduler<mem_runner>(r, -1h, 7), invalid_argument_error);
  BOOST_CHECK_THROW(backup_scheduler<mem_runner>(r, 1h, 0), invalid_argument_error);
}

BOOST_AUTO_TEST_CASE(waits_one_interval_from_startup_without_backups) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 24h, 7, f.rec.fn());
  {
    std::jthread t([&](std::stop_token st) { s.run(st); });
    BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
    BOOST_REQUIRE(f.clock.await_waiters(1));
    BOOST_TEST(f.rec.nth(next_line, 1).second == due_line(t0 + 24h));
    BOOST_TEST(s.attempts() == 0);
    BOOST_TEST(f.names(r).empty(), "no backup at start-up");

    f.clock.advance(24h - 1s);
    BOOST_REQUIRE(f.clock.await_waiters(1));
    BOOST_TEST(s.attempts() == 0, "nothing before the interval has passed");

    f.clock.advance(1s);
    BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
    BOOST_TEST(s.attempts() == 1);
    BOOST_TEST(s.successes() == 1);
    BOOST_TEST(f.names(r) == std::vector<std::string>{"hone-2024-01-16-143022.db.gz"});
    BOOST_TEST(f.rec.count("scheduled backup created: hone-2024-01-16-143022.db.gz") == 1u);
    BOOST_TEST(f.rec.nth(next_line, 2).second == due_line(t0 + 48h));
  }  // the jthread asks the scheduler to stop and joins: it must leave its wait at once
  BOOST_TEST(s.attempts() == 1);
}

BOOST_AUTO_TEST_CASE(counts_from_the_newest_existing_backup) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  f.clock.set(t0 - 10h);
  r.create();  // hone-2024-01-15-043022.db.gz
  f.clock.set(t0 - 30h);
  r.create();  // an older one must not matter
  f.clock.set(t0);
  backup_scheduler<mem_runner> s(r, 24h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
  BOOST_TEST(f.rec.nth(next_line, 1).second == due_line(t0 + 14h));
  BOOST_REQUIRE(f.clock.await_waiters(1));
  f.clock.advance(14h - 1s);
  BOOST_REQUIRE(f.clock.await_waiters(1));
  BOOST_TEST(s.attempts() == 0);
  f.clock.advance(1s);
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
  BOOST_TEST(s.successes() == 1);
  BOOST_TEST(f.names(r).size() == 3u);
  BOOST_TEST(f.names(r).front() == "hone-2024-01-16-043022.db.gz");
}

BOOST_AUTO_TEST_CASE(overdue_backup_is_taken_at_once) {
  // The newest backup is older than one interval (the server was down): the scheduler does
  // not wait another full interval.
  fixture f;
  f.make_db();
  auto r = f.runner();
  f.clock.set(t0 - 30h);
  r.create();
  f.clock.set(t0);
  backup_scheduler<mem_runner> s(r, 24h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
  BOOST_TEST(f.rec.nth(next_line, 1).second == due_line(t0 - 6h));
  BOOST_TEST(f.rec.nth(next_line, 2).second == due_line(t0 + 24h));
  BOOST_TEST(s.successes() == 1);
}

BOOST_AUTO_TEST_CASE(creates_and_prunes_to_retention) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 2, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
  for (int cycle = 1; cycle <= 5; ++cycle) {
    BOOST_TEST_CONTEXT("cycle " << cycle) {
      f.clock.advance(1h);
      BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, static_cast<std::size_t>(cycle) + 1), f.rec.all());
      BOOST_TEST(f.rec.count("scheduled prune:") == static_cast<std::size_t>(cycle));
      BOOST_TEST(f.names(r).size() == static_cast<std::size_t>(std::min(cycle, 2)));
    }
  }
  BOOST_TEST(s.successes() == 5);
  BOOST_TEST((f.names(r) == std::vector<std::string>{"hone-2024-01-15-193022.db.gz", "hone-2024-01-15-183022.db.gz"}));
  BOOST_TEST(f.rec.count("scheduled prune: deleted 1, kept 2") == 3u);
  BOOST_TEST(f.rec.count("scheduled prune: deleted 0, kept 1") == 1u);
  BOOST_TEST(f.rec.count("scheduled prune: deleted 0, kept 2") == 1u);
  for (std::size_t i = 1; i <= 5; ++i) BOOST_TEST((f.rec.nth("scheduled backup created", i).first == log_level::info));
}

BOOST_AUTO_TEST_CASE(failure_is_logged_and_retried_one_interval_later) {
  fixture f;  // no database yet: the first scheduled backup fails
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
  f.clock.advance(1h);
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
  auto [level, msg] = f.rec.nth("scheduled backup failed", 1);
  BOOST_TEST((level == log_level::error));
  BOOST_TEST(msg.find("Database not found") != std::string::npos, msg);
  BOOST_TEST(msg.find("retrying at the next interval") != std::string::npos, msg);
  BOOST_TEST(s.attempts() == 1);
  BOOST_TEST(s.successes() == 0);
  BOOST_TEST(f.rec.nth(next_line, 2).second == due_line(t0 + 2h), "retried one interval after the failure");
  BOOST_TEST(f.rec.count("scheduled prune") == 0u, "no prune after a failed backup");

  f.make_db();  // the problem is fixed
  BOOST_REQUIRE(f.clock.await_waiters(1));
  f.clock.advance(1h - 1s);
  BOOST_REQUIRE(f.clock.await_waiters(1));
  BOOST_TEST(s.attempts() == 1);
  f.clock.advance(1s);
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 3), f.rec.all());
  BOOST_TEST(s.attempts() == 2);
  BOOST_TEST(s.successes() == 1);
  BOOST_TEST(f.names(r) == std::vector<std::string>{"hone-2024-01-15-163022.db.gz"});
}

BOOST_AUTO_TEST_CASE(shares_the_folder_lock_with_manual_backups) {
  // A scheduled run and a manual create on another runner over the same folder both land,
  // in the same second, under distinct names.
  fixture f;
  f.make_db();
  const auto folder = f.dir / "backups";
  auto make_disk = [&] {
    sqlcipher_exporter::options o;
    o.key = test_key();
    runner_options ro;
    ro.temp_directory = f.dir.path();
    return disk_runner(sqlcipher_exporter(f.db, o), gzip_compressor{}, local_directory(folder), f.clock, ro);
  };
  auto sched_runner = make_disk();
  auto manual = make_disk();
  backup_scheduler<disk_runner> s(sched_runner, 1h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
  f.clock.advance(1h);
  manual.create();
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
  auto all = manual.list();
  BOOST_TEST(all.size() == 2u);
  std::set<std::string> names;
  for (auto& b : all) names.insert(b.name);
  BOOST_TEST(names.count("hone-2024-01-15-153022.db.gz") == 1u);
  BOOST_TEST(names.count("hone-2024-01-15-153022-1.db.gz") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
