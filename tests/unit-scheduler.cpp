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
    o.counts = hone_test::hone_count_queries();
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
    BOOST_TEST(f.names(r) == std::vector<std::string>{"backup-2024-01-16-143022.db.gz"});
    BOOST_TEST(f.rec.count("scheduled backup created: backup-2024-01-16-143022.db.gz") == 1u);
    BOOST_TEST(f.rec.nth(next_line, 2).second == due_line(t0 + 48h));
  }  // the jthread asks the scheduler to stop and joins: it must leave its wait at once
  BOOST_TEST(s.attempts() == 1);
}

BOOST_AUTO_TEST_CASE(counts_from_the_newest_existing_backup) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  f.clock.set(t0 - 10h);
  r.create();  // backup-2024-01-15-043022.db.gz
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
  BOOST_TEST(f.names(r).front() == "backup-2024-01-16-043022.db.gz");
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
  BOOST_TEST(
      (f.names(r) == std::vector<std::string>{"backup-2024-01-15-193022.db.gz", "backup-2024-01-15-183022.db.gz"}));
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
  BOOST_TEST(f.names(r) == std::vector<std::string>{"backup-2024-01-15-163022.db.gz"});
}

BOOST_AUTO_TEST_CASE(shares_the_folder_lock_with_manual_backups) {
  // A scheduled run and a manual create on another runner over the same folder both land,
  // in the same second, under distinct names.
  fixture f;
  f.make_db();
  const auto folder = f.dir / "backups";
  auto make_disk = [&] {
    sqlcipher_exporter::options o;
    o.counts = hone_test::hone_count_queries();
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
  BOOST_TEST(names.count("backup-2024-01-15-153022.db.gz") == 1u);
  BOOST_TEST(names.count("backup-2024-01-15-153022-1.db.gz") == 1u);
}

namespace {

/// The stored bytes of a real backup, to put under another name or date.
std::vector<std::byte> real_backup_bytes(fixture& f, mem_runner& r) {
  auto b = r.create();
  auto bytes = f.dest.bytes(b.name);
  f.dest.remove(b.name);
  return bytes;
}

constexpr std::string_view future_warning = " is dated in the future (";

}  // namespace

BOOST_AUTO_TEST_CASE(a_backup_named_in_the_future_does_not_postpone) {
  // A backup whose name says 2031 (copied in, or made while the clock was wrong) must not put
  // the next scheduled backup off to 2031: the due time counts from now.
  fixture f;
  f.make_db();
  auto r = f.runner();
  f.dest.put("backup-2031-01-01-000000.db.gz", real_backup_bytes(f, r), t0);
  BOOST_REQUIRE(f.names(r) == std::vector<std::string>{"backup-2031-01-01-000000.db.gz"});
  backup_scheduler<mem_runner> s(r, 1h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 1), f.rec.all());
  BOOST_TEST(f.rec.nth(next_line, 1).second == due_line(t0 + 1h), f.rec.all());
  auto [level, msg] = f.rec.nth(future_warning, 1);
  BOOST_TEST((level == log_level::warning));
  BOOST_TEST(msg ==
             "backup backup-2031-01-01-000000.db.gz is dated in the future (2031-01-01T00:00:00Z); counting the next "
             "backup from now");
  for (int cycle = 1; cycle <= 3; ++cycle) {
    BOOST_TEST_CONTEXT("cycle " << cycle) {
      BOOST_REQUIRE(f.clock.await_waiters(1));
      f.clock.advance(1h);
      BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, static_cast<std::size_t>(cycle) + 1), f.rec.all());
      BOOST_TEST(s.successes() == cycle);
      BOOST_TEST(f.rec.nth(next_line, static_cast<std::size_t>(cycle) + 1).second ==
                 due_line(t0 + std::chrono::hours(cycle + 1)));
    }
  }
  BOOST_TEST(f.rec.count(future_warning) == 1u, "warned once, not at every cycle:\n" << f.rec.all());
  BOOST_TEST(f.names(r).size() == 4u);
  BOOST_TEST(f.rec.count("ERROR") == 0u);
}

BOOST_AUTO_TEST_CASE(a_backup_modified_in_the_future_does_not_postpone) {
  // A backup with a name of its own is dated by its modification time; one in the future
  // counts as now too, and each such file is named once.
  fixture f;
  f.make_db();
  auto r = f.runner();
  const auto bytes = real_backup_bytes(f, r);
  f.dest.put("copied-in.db.gz", bytes, t0 + 1000h);
  backup_scheduler<mem_runner> s(r, 1h, 7, f.rec.fn());
  std::jthread t([&](std::stop_token st) { s.run(st); });
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 1), f.rec.all());
  BOOST_TEST(f.rec.nth(next_line, 1).second == due_line(t0 + 1h), f.rec.all());
  BOOST_TEST(f.rec.nth(future_warning, 1).second == "backup copied-in.db.gz is dated in the future (" +
                                                        iso8601(t0 + 1000h) + "); counting the next backup from now");

  BOOST_REQUIRE(f.clock.await_waiters(1));
  f.dest.put("copied-in-2.db.gz", bytes, t0 + 2000h);  // another one, newer still
  f.clock.advance(1h);
  BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
  BOOST_TEST(s.successes() == 1);
  BOOST_TEST(f.rec.nth(next_line, 2).second == due_line(t0 + 2h));
  BOOST_TEST(f.rec.count(future_warning) == 2u, f.rec.all());
  BOOST_TEST(f.rec.nth(future_warning, 2).second.find("backup copied-in-2.db.gz is dated in the future") == 0u);
}

BOOST_AUTO_TEST_CASE(clock_moved_back_does_not_postpone) {
  // The last backup and the last attempt were made at t0; then the clock is set back two days.
  // The next backup is one interval from the new "now", not from t0.
  fixture f;
  f.make_db();
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 7, f.rec.fn());
  BOOST_REQUIRE(s.run_once());
  BOOST_TEST(iso8601(s.next_due()) == iso8601(t0 + 1h));
  BOOST_TEST(f.rec.count(future_warning) == 0u);
  f.clock.set(t0 - 48h);
  BOOST_TEST(iso8601(s.next_due()) == iso8601(t0 - 47h));
  BOOST_TEST(f.rec.count("backup backup-2024-01-15-143022.db.gz is dated in the future (2024-01-15T14:30:22Z)") == 1u,
             f.rec.all());
  BOOST_TEST(iso8601(s.next_due()) == iso8601(t0 - 47h));
  BOOST_TEST(f.rec.count(future_warning) == 1u, "once per file");
}

BOOST_AUTO_TEST_CASE(an_unreadable_file_is_not_the_newest_backup) {
  // A file with a backup's name that cannot be read (here: truncated) does not count: the due
  // time comes from the newest real backup.
  fixture f;
  f.make_db();
  auto r = f.runner();
  f.clock.set(t0 - 10h);
  r.create();  // backup-2024-01-15-043022.db.gz
  f.clock.set(t0);
  f.dest.put("backup-2024-01-15-142022.db.gz", std::vector<std::byte>(3, std::byte{0x1f}), t0 - 10min);
  BOOST_REQUIRE(!r.list().front().problem.empty());
  backup_scheduler<mem_runner> s(r, 24h, 7, f.rec.fn());
  BOOST_TEST(iso8601(s.next_due()) == iso8601(t0 + 14h));
}

BOOST_AUTO_TEST_CASE(the_scheduler_prunes_with_its_calendar_policy) {
  fixture f;
  f.make_db();
  mem_runner r = f.runner();
  // One backup a day for 20 days, then the scheduler's own cycle: daily 3 keeps 3.
  for (int i = 0; i < 20; ++i) {
    r.create();
    f.clock.advance(24h);
  }
  backup_scheduler<mem_runner> s(r, 24h, keep_calendar{.daily = 3}, f.rec.fn());
  BOOST_TEST(s.run_once());
  BOOST_TEST(r.list().size() == 3u);
  BOOST_TEST(f.rec.count("scheduled prune: deleted 18, kept 3") == 1u, f.rec.all());
}

namespace {

/// A runner whose prune fails on demand (everything else is the memory runner's).
struct failing_prune_runner {
  mem_runner& inner;
  bool fail_prune = true;
  backup_info create() { return inner.create(); }
  std::vector<backup_info> list() { return inner.list(); }
  prune_result prune(const keep_calendar& p) {
    if (fail_prune) throw io_error("the folder went away");
    return inner.prune(p);
  }
  fake_clock& clock() { return inner.clock(); }
};

/// Records every outcome the scheduler reports.
struct outcome_recorder {
  std::mutex m;
  std::vector<cycle_outcome> seen;
  cycle_fn fn() {
    return [this](const cycle_outcome& o) {
      std::lock_guard lk(m);
      seen.push_back(o);
    };
  }
  std::vector<cycle_outcome> all() {
    std::lock_guard lk(m);
    return seen;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(on_cycle_reports_success_with_the_backup_and_the_prune) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  r.create();
  f.clock.advance(1h);
  r.create();
  f.clock.advance(1h);
  backup_scheduler<mem_runner> s(r, 1h, 2, f.rec.fn());
  outcome_recorder rec;
  s.on_cycle(rec.fn());
  BOOST_TEST(s.run_once());
  auto seen = rec.all();
  BOOST_REQUIRE(seen.size() == 1u);
  const auto& o = seen.front();
  BOOST_TEST(o.success);
  BOOST_TEST(o.failed_operation.empty());
  BOOST_TEST(o.message.empty());
  BOOST_TEST(o.backup_name == "backup-2024-01-15-163022.db.gz");
  BOOST_TEST(o.backup_size == r.get(o.backup_name).size);
  BOOST_TEST(o.backup_size > 0u);
  BOOST_TEST(o.pruned_count == 1u);
  BOOST_TEST(o.kept_count == 2u);
  BOOST_TEST((o.started == t0 + 2h));
  BOOST_TEST((o.finished >= o.started));
}

BOOST_AUTO_TEST_CASE(on_cycle_names_the_failed_create) {
  fixture f;  // no database: create fails
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 2, f.rec.fn());
  outcome_recorder rec;
  s.on_cycle(rec.fn());
  BOOST_TEST(!s.run_once());
  auto seen = rec.all();
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST(!seen[0].success);
  BOOST_TEST(seen[0].failed_operation == "create");
  BOOST_TEST(seen[0].message.find("Database not found") != std::string::npos, seen[0].message);
  BOOST_TEST(seen[0].backup_name.empty());
  BOOST_TEST(f.rec.count("scheduled backup failed: ") == 1u, f.rec.all());
}

BOOST_AUTO_TEST_CASE(on_cycle_names_the_failed_prune_and_keeps_the_backup) {
  fixture f;
  f.make_db();
  auto inner = f.runner();
  failing_prune_runner r{inner};
  backup_scheduler<failing_prune_runner> s(r, 1h, 2, f.rec.fn());
  outcome_recorder rec;
  s.on_cycle(rec.fn());
  BOOST_TEST(!s.run_once());
  r.fail_prune = false;
  BOOST_TEST(s.run_once());
  auto seen = rec.all();
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(!seen[0].success);
  BOOST_TEST(seen[0].failed_operation == "prune");
  BOOST_TEST(seen[0].message == "the folder went away");
  BOOST_TEST(seen[0].backup_name == "backup-2024-01-15-143022.db.gz", "the backup was made before the prune failed");
  BOOST_TEST(seen[1].success);
  BOOST_TEST(seen[1].failed_operation.empty());
  BOOST_TEST(f.rec.count("scheduled prune failed: the folder went away") == 1u, f.rec.all());
  BOOST_TEST(s.attempts() == 2);
  BOOST_TEST(s.successes() == 1);
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_is_logged_not_passed_on) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 2, f.rec.fn());
  s.on_cycle([](const cycle_outcome&) { throw std::runtime_error("callback broke"); });
  BOOST_TEST(s.run_once());
  BOOST_TEST(f.rec.count("scheduler callback failed: callback broke") == 1u, f.rec.all());
}

BOOST_AUTO_TEST_CASE(next_run_is_the_due_time_while_waiting) {
  fixture f;
  f.make_db();
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 1h, 7, f.rec.fn());
  BOOST_TEST(!s.next_run().has_value(), "nothing is due before run()");
  std::mutex m;
  std::vector<time_point> announced;
  s.on_next_run([&](time_point t) {
    std::lock_guard lk(m);
    announced.push_back(t);
  });
  outcome_recorder rec;
  s.on_cycle(rec.fn());
  {
    std::jthread t([&](std::stop_token st) { s.run(st); });
    BOOST_REQUIRE(f.rec.wait_for(next_line, 1));
    BOOST_REQUIRE(f.clock.await_waiters(1));
    BOOST_REQUIRE(s.next_run().has_value());
    BOOST_TEST(iso8601(*s.next_run()) == iso8601(t0 + 1h));
    f.clock.advance(1h);
    BOOST_REQUIRE_MESSAGE(f.rec.wait_for(next_line, 2), f.rec.all());
    BOOST_REQUIRE(f.clock.await_waiters(1));
    BOOST_REQUIRE(s.next_run().has_value());
    BOOST_TEST(iso8601(*s.next_run()) == iso8601(t0 + 2h));
    BOOST_TEST(rec.all().size() == 1u);
  }
  BOOST_TEST(!s.next_run().has_value(), "nothing is due once run() has returned");
  std::lock_guard lk(m);
  BOOST_REQUIRE(announced.size() == 2u);
  BOOST_TEST(iso8601(announced[0]) == iso8601(t0 + 1h));
  BOOST_TEST(iso8601(announced[1]) == iso8601(t0 + 2h));
}

BOOST_AUTO_TEST_CASE(exposes_its_policy_and_interval) {
  fixture f;
  auto r = f.runner();
  backup_scheduler<mem_runner> s(r, 90min, keep_calendar{.last = 3, .daily = 4}, f.rec.fn());
  BOOST_TEST(s.policy().last == 3);
  BOOST_TEST(s.policy().daily == 4);
  BOOST_TEST((s.interval() == std::chrono::nanoseconds(90min)));
}

BOOST_AUTO_TEST_SUITE_END()
