// The program's scheduler settings (config/config.hpp): HONE_BACKUP_SCHEDULE, HONE_BACKUP_RETENTION
// and the HONE_BACKUP_KEEP_* calendar rules read into the library's schedule_config, with the
// messages a misconfiguration gives. The scheduler itself is tested in tests/unit-scheduler.cpp.
#include <boost/test/unit_test.hpp>

#include "config/config.hpp"

#include <chrono>
#include <string>

using hone_app::parse_schedule;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(schedule_config)

BOOST_AUTO_TEST_CASE(parse_schedule_accepts_plain_decimal_hours) {
  struct row {
    const char* schedule;
    const char* retention;
    std::chrono::nanoseconds interval;
    long long retention_value;
    const char* reason_part;
  };
  const row rows[] = {
      {"24", nullptr, 24h, 7, "backup scheduler enabled: every 24 h, keeping 7 backups"},
      {"168", "14", 168h, 14, "every 168 h, keeping 14 backups"},
      {"0.5", "", 30min, 7, "every 0.5 h"},
      {"1", "1", 1h, 1, "every 1 h, keeping 1 backups"},
      {"0.0167", nullptr, 60120ms, 7, "every 0.0167 h"},  // the shortest: just over one minute
      {"876000", nullptr, 876000h, 7, "every 876000 h"},  // the longest: 100 years
      {"024", "007", 24h, 7, "keeping 7 backups"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("schedule=" << r.schedule << " retention=" << (r.retention ? r.retention : "(unset)")) {
      auto c = parse_schedule(r.schedule, r.retention);
      BOOST_TEST(c.enabled);
      BOOST_TEST(!c.misconfigured());
      BOOST_TEST(c.error.empty(), c.error);
      BOOST_TEST(c.interval.count() == r.interval.count());
      BOOST_TEST(c.retention == r.retention_value);
      BOOST_TEST(c.reason.find(r.reason_part) != std::string::npos, "reason: " << c.reason);
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_schedule_unset_is_disabled_not_misconfigured) {
  for (const char* unset : {static_cast<const char*>(nullptr), ""}) {
    for (const char* retention : {static_cast<const char*>(nullptr), "", "3"}) {
      auto c = parse_schedule(unset, retention);
      BOOST_TEST(!c.enabled);
      BOOST_TEST(!c.misconfigured());
      BOOST_TEST(c.error.empty(), c.error);
      BOOST_TEST(c.reason == "backup scheduler disabled: HONE_BACKUP_SCHEDULE is not set");
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_schedule_refuses_anything_but_plain_decimal_hours_of_a_minute_or_more) {
  const char* refused[] = {
      "1e-9", "0x10",   " 24",    "24 ",        "24h",
      "inf",  "nan",    "-1",     "0",          "0.001",
      "0.01", "0.0",    "+24",    "1e3",        "24.",
      ".5",   "daily",  "0.0.1",  "1,5",        "\t24",
      "24\n", "0.0166", "876001", "1000000000", "99999999999999999999999999999999",
  };
  for (const char* v : refused) {
    BOOST_TEST_CONTEXT("HONE_BACKUP_SCHEDULE=" << v) {
      for (const char* retention : {static_cast<const char*>(nullptr), "7"}) {
        auto c = parse_schedule(v, retention);
        BOOST_TEST(!c.enabled);
        BOOST_TEST(c.misconfigured());
        BOOST_TEST(c.interval.count() == 0);
        // names the variable and the value, and says what is accepted
        BOOST_TEST(c.error.find("HONE_BACKUP_SCHEDULE='") == 0u, c.error);
        BOOST_TEST(c.error.find("is not valid") != std::string::npos, c.error);
        BOOST_TEST(c.error.find("give the interval in hours as a plain decimal number of at least 0.0167 (one "
                                "minute) and at most 876000 (100 years), e.g. 24") != std::string::npos,
                   c.error);
        BOOST_TEST(c.error.find("HONE_BACKUP_RETENTION") == std::string::npos, c.error);
        BOOST_TEST(c.reason == "backup scheduler misconfigured: " + c.error);
      }
    }
  }
  // the specific reason, and the value exactly as given
  BOOST_TEST(parse_schedule("1e-9", nullptr)
                 .error.find("HONE_BACKUP_SCHEDULE='1e-9' is not valid (not a plain "
                             "decimal number)") == 0u);
  BOOST_TEST(
      parse_schedule("0.01", nullptr).error.find("HONE_BACKUP_SCHEDULE='0.01' is not valid (under one minute)") == 0u);
  BOOST_TEST(parse_schedule("876001", nullptr)
                 .error.find("HONE_BACKUP_SCHEDULE='876001' is not valid (over 100 "
                             "years)") == 0u);
  BOOST_TEST(parse_schedule(" 24", nullptr).error.find("HONE_BACKUP_SCHEDULE=' 24' is not valid") == 0u);
  // beyond the range of a double, either way
  const std::string huge(400, '9'), tiny = "0." + std::string(400, '0') + "1";
  BOOST_TEST(parse_schedule(huge.c_str(), nullptr).error.find("is not valid (over 100 years)") != std::string::npos);
  BOOST_TEST(parse_schedule(tiny.c_str(), nullptr).error.find("is not valid (under one minute)") != std::string::npos);
  // control characters are escaped and a long value is cut, so the message stays one line
  BOOST_TEST(parse_schedule("24\n", nullptr).error.find("HONE_BACKUP_SCHEDULE='24\\x0A' is not valid") == 0u);
  const std::string long_value(200, '9');
  const auto long_error = parse_schedule(long_value.c_str(), nullptr).error;
  BOOST_TEST(long_error.find("HONE_BACKUP_SCHEDULE='" + std::string(40, '9') + "...' is not valid") == 0u, long_error);
}

BOOST_AUTO_TEST_CASE(parse_schedule_refuses_a_bad_retention) {
  const char* refused[] = {"0", "-3", "7x", " 7", "7 ", "+7", "1.5", "abc", "0x7", "1e2", "99999999999999999999"};
  for (const char* v : refused) {
    BOOST_TEST_CONTEXT("HONE_BACKUP_RETENTION=" << v) {
      // refused with the schedule set, and also without it (a set variable must be valid)
      for (const char* schedule : {static_cast<const char*>(nullptr), "24"}) {
        auto c = parse_schedule(schedule, v);
        BOOST_TEST(!c.enabled);
        BOOST_TEST(c.misconfigured());
        BOOST_TEST(c.error == "HONE_BACKUP_RETENTION='" + std::string(v) +
                                  "' is not valid: give the number of backups to keep as a whole number of at "
                                  "least 1 in plain digits, e.g. 7");
      }
    }
  }
  for (const char* v : {"1", "14"}) {
    auto c = parse_schedule("24", v);
    BOOST_TEST(c.enabled);
    BOOST_TEST(!c.misconfigured());
    BOOST_TEST(c.retention == std::stoll(v));
  }
  // both wrong: both named
  auto c = parse_schedule("1e-9", "abc");
  BOOST_TEST(c.error.find("HONE_BACKUP_SCHEDULE='1e-9'") == 0u, c.error);
  BOOST_TEST(c.error.find("; HONE_BACKUP_RETENTION='abc'") != std::string::npos, c.error);
}

BOOST_AUTO_TEST_CASE(parse_schedule_reads_the_calendar_rules) {
  auto c = parse_schedule("24", nullptr, {nullptr, "7", "4", "12", nullptr});
  BOOST_TEST(c.enabled);
  BOOST_TEST(c.policy.last == 0);  // keep-last only when HONE_BACKUP_RETENTION is set too
  BOOST_TEST((c.policy.daily == 7 && c.policy.weekly == 4 && c.policy.monthly == 12));
  BOOST_TEST(c.reason.find("keep 7 daily, 4 weekly, 12 monthly") != std::string::npos, c.reason);
  c = parse_schedule("24", "3", {"2", nullptr, nullptr, nullptr, "5"});
  BOOST_TEST((c.policy.last == 3 && c.policy.hourly == 2 && c.policy.yearly == 5));
  c = parse_schedule("24", nullptr);
  BOOST_TEST(c.policy.last == 7);
  BOOST_TEST(c.reason.find("keeping 7 backups") != std::string::npos, c.reason);
  for (const char* bad : {"0", "-1", "x", " 7", "1.5"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto b = parse_schedule("24", nullptr, {nullptr, nullptr, bad, nullptr, nullptr});
      BOOST_TEST(b.misconfigured());
      BOOST_TEST(b.error.find("HONE_BACKUP_KEEP_WEEKLY") != std::string::npos, b.error);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
