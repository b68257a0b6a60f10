// The program's any_runner (examples/hone/core/any_runner.hpp): every call reaches the runner it
// holds, and backup_scheduler runs over it with the held runner's Clock (fake_clock: no sleeps).
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include "core/any_runner.hpp"

#include <stop_token>
#include <thread>

using namespace hone_test;
using namespace std::chrono_literals;
using hone_app::any_runner;

namespace {

using mem_runner = BackupRunner<sqlcipher_exporter, gzip_compressor, memory_destination, fake_clock>;

struct fixture {
  scratch_dir dir{"anyrunner"};
  fs::path db = dir / "hone.db";
  fake_clock clock;
  memory_destination dest;

  fixture() {
    dest.modified_time = [c = clock]() mutable { return c.now(); };
    make_hone_db(db, test_key(), {.accounts = 2, .transactions = 20, .subscriptions = 1});
  }

  any_runner runner() {
    sqlcipher_exporter::options o;
    o.counts = hone_count_queries();
    o.key = test_key();
    runner_options ro;
    ro.temp_directory = dir.path();
    return any_runner(mem_runner(sqlcipher_exporter(db, o), gzip_compressor{}, dest, clock, ro));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(any_runner_suite)

BOOST_AUTO_TEST_CASE(forwards_every_operation) {
  fixture f;
  any_runner r = f.runner();
  BOOST_TEST(r.backup_name("nightly") == "nightly.db.gz");
  BOOST_TEST(r.resolve_name("nightly") == "nightly.db.gz");
  BOOST_CHECK_THROW(r.backup_name("../x"), invalid_name_error);

  const backup_info a = r.create();
  BOOST_TEST(a.name.ends_with(".db.gz"));
  BOOST_TEST(a.encrypted);
  BOOST_TEST(*a.counts["transactions"] == 20);
  f.clock.advance(1h);
  const backup_info b = r.create(std::string("nightly"));
  BOOST_TEST(b.name == "nightly.db.gz");
  BOOST_CHECK_THROW(r.create(std::string("nightly")), already_exists_error);

  const auto all = r.list();
  BOOST_TEST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].name == "nightly.db.gz");
  BOOST_TEST(r.get("nightly").name == "nightly.db.gz");
  BOOST_CHECK_THROW(r.get("missing"), not_found_error);

  const verify_result v = r.verify(a.name);
  BOOST_TEST(v.valid, v.message);
  BOOST_TEST(*v.counts["accounts"] == 2);

  const prune_result p = r.prune(keep_calendar{.last = 1}, /*dry_run=*/true);
  BOOST_TEST(p.deleted_names == std::vector<std::string>{a.name});
  BOOST_TEST(r.list().size() == 2u, "a dry run deletes nothing");

  const fs::path target = f.dir / "restored.db";
  const restore_result res = r.restore("nightly", target, false);
  BOOST_TEST(res.restored);
  BOOST_TEST(dump(target, test_key()) == dump(f.db, test_key()));

  BOOST_TEST(r.remove(a.name) == a.name);
  BOOST_TEST(r.list().size() == 1u);
  BOOST_TEST(r.prune(keep_calendar{.last = 1}).deleted_count == 0u);
}

BOOST_AUTO_TEST_CASE(exposes_the_held_runners_clock) {
  fixture f;
  any_runner r = f.runner();
  BOOST_TEST(iso8601(r.clock().now()) == iso8601(f.clock.now()));
  f.clock.advance(90min);
  BOOST_TEST(iso8601(r.clock().now()) == "2024-01-15T16:00:22Z");
  BOOST_TEST(r.clock().wait_until(f.clock.now() - 1s, std::stop_token{}), "a deadline in the past is reached");
}

BOOST_AUTO_TEST_CASE(drives_the_scheduler) {
  fixture f;
  any_runner r = f.runner();
  backup_scheduler<any_runner> s(r, 1h, keep_calendar{.last = 2});
  std::jthread t([&](std::stop_token stop) { s.run(stop); });
  for (int cycle = 1; cycle <= 3; ++cycle) {
    // The scheduler waits on the fake clock; advance it once it is waiting.
    BOOST_TEST_REQUIRE(f.clock.await_waiters(1, 60s));
    f.clock.advance(1h);
    while (s.attempts() < cycle) std::this_thread::yield();
  }
  t.request_stop();
  t.join();
  BOOST_TEST(s.successes() == 3);
  BOOST_TEST(r.list().size() == 2u, "pruned to the two newest");
}

BOOST_AUTO_TEST_SUITE_END()
