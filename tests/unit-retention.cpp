// Retention policies (hone/backup/retention.hpp): keep_last and keep_calendar with restic's
// `forget` semantics, checked rule by rule, in combination, across ISO week boundaries, and
// against an independent straightforward implementation on thousands of random schedules.
#include <boost/test/unit_test.hpp>

#include "support/testdb.hpp"

#include <ctime>
#include <map>
#include <random>
#include <set>

using namespace hone_test;
using namespace std::chrono_literals;

namespace {

time_point utc(int y, unsigned mo, unsigned d, int h = 12, int mi = 0) {
  return std::chrono::sys_days{std::chrono::year{y} / mo / d} + std::chrono::hours{h} + std::chrono::minutes{mi};
}

/// The indexes of the kept backups.
std::set<std::size_t> kept(const keep_reasons& r) {
  std::set<std::size_t> s;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (!r[i].empty()) s.insert(i);
  return s;
}

/// One backup per day at noon, newest first, from `newest` going back `n` days.
std::vector<time_point> daily_series(time_point newest, int n) {
  std::vector<time_point> v;
  for (int i = 0; i < n; ++i) v.push_back(newest - std::chrono::days{i});
  return v;
}

/// The rule written independently: each rule on its own (not interleaved), buckets from
/// strftime ("%G%V" is the ISO year and week), then the union.
std::set<std::size_t> reference(const std::vector<time_point>& t, const keep_calendar& p) {
  auto fmt = [](time_point tp, const char* f) {
    std::time_t tt = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, f, &tm);
    return std::string(buf);
  };
  const std::pair<long long, const char*> rules[] = {{p.last, nullptr},  {p.hourly, "%Y%m%d%H"}, {p.daily, "%Y%m%d"},
                                                     {p.weekly, "%G%V"}, {p.monthly, "%Y%m"},    {p.yearly, "%Y"}};
  std::set<std::size_t> out;
  for (auto [count, format] : rules) {
    std::string last_bucket = "none";
    for (std::size_t i = 0; i < t.size() && count > 0; ++i) {
      const std::string bucket = format ? fmt(t[i], format) : "#" + std::to_string(i);
      if (bucket != last_bucket || i + 1 == t.size()) {
        out.insert(i);
        last_bucket = bucket;
        --count;
      }
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retention)

BOOST_AUTO_TEST_CASE(keep_last_keeps_the_newest) {
  std::vector<time_point> t = daily_series(utc(2024, 3, 10), 10);
  BOOST_TEST((kept(keep_last{3}.apply(t)) == std::set<std::size_t>{0, 1, 2}));
  BOOST_TEST((kept(keep_last{20}.apply(t)).size() == 10u));
  BOOST_CHECK_THROW(keep_last{0}.apply(t), invalid_argument_error);
  BOOST_TEST((kept(keep_calendar{.last = 3}.apply(t)) == std::set<std::size_t>{0, 1, 2}));
}

BOOST_AUTO_TEST_CASE(each_calendar_rule_alone) {
  // Every 6 hours for 400 days, newest first.
  std::vector<time_point> t;
  for (int i = 0; i < 400 * 4; ++i) t.push_back(utc(2024, 6, 30, 18) - std::chrono::hours{6 * i});
  auto k = kept(keep_calendar{.hourly = 5}.apply(t));
  BOOST_TEST((k == std::set<std::size_t>{0, 1, 2, 3, 4}));  // each backup is its own hour
  k = kept(keep_calendar{.daily = 3}.apply(t));
  BOOST_TEST((k == std::set<std::size_t>{0, 4, 8}));  // 18:00 of 06-30, 06-29 and 06-28
  k = kept(keep_calendar{.weekly = 2}.apply(t));
  // 2024-06-30 is a Sunday: week 26 starts Monday 06-24; the newest of week 25 is 06-23 18:00.
  BOOST_REQUIRE(k.size() == 2u);
  BOOST_TEST(*k.begin() == 0u);
  BOOST_TEST((t[*std::next(k.begin())] == utc(2024, 6, 23, 18)));
  k = kept(keep_calendar{.monthly = 2}.apply(t));
  BOOST_REQUIRE(k.size() == 2u);
  BOOST_TEST((t[*std::next(k.begin())] == utc(2024, 5, 31, 18)));
  k = kept(keep_calendar{.yearly = 5}.apply(t));
  // 2024 and 2023, then the oldest backup of all while counts are left.
  BOOST_REQUIRE(k.size() == 3u);
  BOOST_TEST((t[*std::next(k.begin())] == utc(2023, 12, 31, 18)));
  BOOST_TEST(*k.rbegin() == t.size() - 1);
}

BOOST_AUTO_TEST_CASE(daily_and_weekly_combine_as_restic_does) {
  // One backup a day for 60 days: daily 7 keeps the 7 newest days and weekly 4 the newest
  // backup of the 4 newest weeks; each rule walks all backups on its own, so the newest week's
  // backup counts for both and weekly reaches 3 weeks further back than daily.
  auto t = daily_series(utc(2024, 3, 31), 60);  // 2024-03-31 is a Sunday
  auto r = keep_calendar{.daily = 7, .weekly = 4}.apply(t);
  auto k = kept(r);
  // daily: 0..6 (03-31 .. 03-25, Mon); weekly: 03-31 (W13), 03-24 (W12), 03-17, 03-10.
  BOOST_TEST((k == std::set<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 14, 21}));
  BOOST_TEST((r[0] == std::vector<std::string>{"daily", "weekly"}));
  BOOST_TEST((r[7] == std::vector<std::string>{"weekly"}));
  BOOST_TEST((r[6] == std::vector<std::string>{"daily"}));
}

BOOST_AUTO_TEST_CASE(gaps_do_not_use_up_counts) {
  // Days with no backup are not counted: daily 3 keeps the 3 newest days that have one.
  std::vector<time_point> t = {utc(2024, 5, 20), utc(2024, 5, 12), utc(2024, 5, 11), utc(2024, 4, 1), utc(2024, 3, 1)};
  BOOST_TEST((kept(keep_calendar{.daily = 3}.apply(t)) == std::set<std::size_t>{0, 1, 2}));
  BOOST_TEST((kept(keep_calendar{.monthly = 2}.apply(t)) == std::set<std::size_t>{0, 3}));
}

BOOST_AUTO_TEST_CASE(iso_weeks_across_a_year_boundary) {
  // 2020-12-31 (Thu) and 2021-01-01 (Fri) are both in ISO week 2020-W53; 2021-01-04 (Mon) is
  // 2021-W01.
  std::vector<time_point> t = {utc(2021, 1, 4), utc(2021, 1, 1), utc(2020, 12, 31)};
  BOOST_TEST((kept(keep_calendar{.weekly = 2}.apply(t)) == std::set<std::size_t>{0, 1}));
  // With a count left, the oldest backup of all is kept too.
  BOOST_TEST((kept(keep_calendar{.weekly = 3}.apply(t)) == std::set<std::size_t>{0, 1, 2}));
  // By calendar year they differ: yearly 2 keeps 2021's newest and 2020's.
  BOOST_TEST((kept(keep_calendar{.yearly = 2}.apply(t)) == std::set<std::size_t>{0, 2}));
  const auto u = detail::utc_of(utc(2021, 1, 1));
  BOOST_TEST(u.iso_year == 2020);
  BOOST_TEST(u.iso_week == 53);
  BOOST_TEST(detail::utc_of(utc(2021, 1, 4)).iso_week == 1);
}

BOOST_AUTO_TEST_CASE(many_backups_in_one_hour) {
  std::vector<time_point> t;
  for (int i = 0; i < 10; ++i) t.push_back(utc(2024, 7, 1, 9, 50) - std::chrono::minutes{i * 5});  // 09:50..09:05
  for (int i = 0; i < 10; ++i) t.push_back(utc(2024, 7, 1, 8, 50) - std::chrono::minutes{i * 5});  // 08:50..08:05
  BOOST_TEST((kept(keep_calendar{.hourly = 2}.apply(t)) == std::set<std::size_t>{0, 10}));
  // A third count left: the oldest backup of all.
  BOOST_TEST((kept(keep_calendar{.hourly = 3}.apply(t)) == std::set<std::size_t>{0, 10, 19}));
}

BOOST_AUTO_TEST_CASE(unknown_times_are_left_to_the_caller) {
  std::vector<time_point> t = {utc(2024, 7, 2), time_point{}, utc(2024, 7, 1)};
  auto r = keep_calendar{.daily = 1}.apply(t);
  BOOST_TEST(r[1].empty());
  BOOST_TEST((kept(r) == std::set<std::size_t>{0}));
}

BOOST_AUTO_TEST_CASE(invalid_policies) {
  std::vector<time_point> t = {utc(2024, 7, 2)};
  BOOST_CHECK_THROW(keep_calendar{}.apply(t), invalid_argument_error);
  BOOST_CHECK_THROW(keep_calendar{.daily = -1}.apply(t), invalid_argument_error);
  BOOST_TEST((keep_calendar{.daily = 7, .weekly = 4}.describe() == "keep 7 daily, 4 weekly"));
}

BOOST_AUTO_TEST_CASE(matches_an_independent_implementation_on_random_schedules) {
  const unsigned seed = 20261202;
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng(seed);
  int cases = 0;
  for (; cases < 3000; ++cases) {
    // Backups at random gaps from seconds to months, newest first.
    std::vector<time_point> t;
    time_point now = utc(2019 + static_cast<int>(rng() % 8), 1 + rng() % 12, 1 + rng() % 28, rng() % 24);
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      t.push_back(now);
      static const std::chrono::seconds gaps[] = {1s, 10min, 1h, 6h, 24h, 72h, 24h * 8, 24h * 33, 24h * 200};
      now -= gaps[rng() % std::size(gaps)] + std::chrono::seconds{rng() % 3600};
    }
    keep_calendar p;
    auto count = [&] { return rng() % 3 == 0 ? 0 : static_cast<long long>(rng() % 6); };
    p.last = count(), p.hourly = count(), p.daily = count(), p.weekly = count(), p.monthly = count(),
    p.yearly = count();
    if (p.last + p.hourly + p.daily + p.weekly + p.monthly + p.yearly == 0) p.daily = 1;
    const auto got = kept(p.apply(t));
    const auto want = reference(t, p);
    if (got != want) {
      BOOST_ERROR("case " << cases << " (seed " << seed << "): policy " << p.describe() << " on " << n
                          << " backups differs from the reference");
      break;
    }
  }
  BOOST_TEST(cases == 3000);
}

BOOST_AUTO_TEST_CASE(runner_prune_with_a_policy_and_a_dry_run) {
  scratch_dir dir("retention");
  const auto db = dir / "hone.db";
  make_hone_db(db, database_key::none(), {.transactions = 5});
  fake_clock clock(utc(2024, 3, 1, 2));
  memory_destination dest;
  dest.modified_time = [c = clock]() mutable { return c.now(); };
  runner_options ro;
  ro.temp_directory = dir.path();
  BackupRunner r(sqlcipher_exporter(db), gzip_compressor{}, dest, clock, ro);
  std::vector<std::string> names;  // oldest first: one backup a day at 02:00 for 20 days
  for (int i = 0; i < 20; ++i) {
    names.push_back(r.create().name);
    clock.advance(24h);
  }
  const keep_calendar policy{.daily = 3, .weekly = 2};
  auto dry = r.prune(policy, true);
  BOOST_TEST(dry.dry_run);
  BOOST_TEST(dry.deleted_count > 0u);
  BOOST_TEST(r.list().size() == 20u);  // nothing deleted
  auto done = r.prune(policy);
  BOOST_TEST(done.deleted_names == dry.deleted_names);
  BOOST_TEST(r.list().size() == done.retained_count);
  BOOST_REQUIRE(!done.retained.empty());
  BOOST_TEST(done.retained.front().name == names.back());
  BOOST_TEST((done.retained.front().reasons == std::vector<std::string>{"daily", "weekly"}));
  BOOST_TEST(done.policy == "keep 3 daily, 2 weekly");
}

BOOST_AUTO_TEST_SUITE_END()
