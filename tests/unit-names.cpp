// Tests of backup names (names.hpp): validation and its messages, the automatic names and the
// time and sequence number read back from them, at the edges of what a time_point holds.
#include <hone/backup.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace hb = hone::backup;
using namespace std::chrono;

namespace {

std::string invalid_name_message(std::string_view name) {
  try {
    hb::validate_name(name);
  } catch (const hb::invalid_name_error& e) {
    return e.what();
  }
  BOOST_FAIL("the name was accepted");
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(names)

BOOST_AUTO_TEST_CASE(invalid_name_messages_escape_control_characters) {
  // A NUL used to end what() early, losing the reason; a newline split the message.
  using namespace std::string_literals;
  BOOST_TEST(invalid_name_message("a\0b"s) ==
             "Invalid backup name 'a\\x00b': the name must not contain control characters");
  BOOST_TEST(invalid_name_message("x\ny") ==
             "Invalid backup name 'x\\x0ay': the name must not contain control characters");
  BOOST_TEST(invalid_name_message("\x1b[2Jz") ==
             "Invalid backup name '\\x1b[2Jz': the name must not contain control characters");
  BOOST_TEST(invalid_name_message("a/b") ==
             "Invalid backup name 'a/b': the name must be a plain file name (no '/' or '\\')");
  const std::string long_name(300, 'a');
  BOOST_TEST(invalid_name_message(long_name) ==
             "Invalid backup name '" + std::string(64, 'a') + "...': the name is longer than 255 bytes");
}

BOOST_AUTO_TEST_CASE(default_name_round_trip) {
  const hb::time_point t = sys_days{2024y / 1 / 15} + 14h + 30min + 22s;
  BOOST_TEST(hb::default_name(t, ".db.gz") == "backup-2024-01-15-143022.db.gz");
  BOOST_TEST(hb::default_name(t, ".db.gz", 3) == "backup-2024-01-15-143022-3.db.gz");
  BOOST_TEST((hb::timestamp_from_name("backup-2024-01-15-143022-3.db.gz") == t));
  BOOST_TEST(hb::sequence_from_name("backup-2024-01-15-143022-3.db.gz") == 3);
  BOOST_TEST(hb::sequence_from_name("backup-2024-01-15-143022.db.gz") == 0);
  BOOST_TEST(!hb::timestamp_from_name("backup-2024-02-30-143022.db.gz"));
  BOOST_TEST(!hb::timestamp_from_name("backup-2024-01-15-243022.db.gz"));
}

BOOST_AUTO_TEST_CASE(times_outside_a_time_point_are_not_automatic_names) {
  // A name is any plain file name, so "hone-3000-01-01-000000.db.gz" can be given to create;
  // its time does not fit a nanosecond time_point, and reading it used to overflow (undefined
  // behaviour). Such names are now ordinary custom names.
  for (const char* name : {"hone-3000-01-01-000000.db.gz", "hone-9999-12-31-235959.db.gz",
                           "hone-0000-01-01-000000.db.gz", "backup-1000-06-01-120000-2.db.gz"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(hb::name_problem(name).empty());
      BOOST_TEST(!hb::timestamp_from_name(name));
      BOOST_TEST(hb::sequence_from_name(name) == 0);
    }
  }
  // Up to the last and from the first whole second a time_point holds, names read back.
  const auto latest = floor<seconds>(hb::time_point::max());
  const auto earliest = ceil<seconds>(hb::time_point::min());
  for (const hb::time_point t : {hb::time_point(latest), hb::time_point(earliest)}) {
    const std::string name = hb::default_name(t, ".db.gz", 1);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST((hb::timestamp_from_name(name) == t));
      BOOST_TEST(hb::sequence_from_name(name) == 1);
    }
  }
  if constexpr (std::is_same_v<hb::time_point::duration, nanoseconds>) {
    // 64-bit nanoseconds: 1677-09-21 00:12:43.145224192 to 2262-04-11 23:47:16.854775807.
    BOOST_TEST(hb::default_name(latest, "") == "backup-2262-04-11-234716");
    BOOST_TEST(hb::default_name(earliest, "") == "backup-1677-09-21-001244");
    BOOST_TEST(!hb::timestamp_from_name("backup-2262-04-11-234717.db.gz"));
    BOOST_TEST(!hb::timestamp_from_name("backup-1677-09-21-001243.db.gz"));
  }
}

BOOST_AUTO_TEST_CASE(newest_first_orders_by_time_then_sequence_of_its_prefix_then_name) {
  const hb::time_point t = sys_days{2024y / 1 / 15} + 14h + 30min + 22s;
  auto info = [](std::string name, hb::time_point at) {
    hb::backup_info b;
    b.name = std::move(name);
    b.created_at = at;
    return b;
  };
  auto order = [](std::vector<hb::backup_info> v, const hb::newest_first& by) {
    std::sort(v.begin(), v.end(), by);
    std::vector<std::string> names;
    for (const auto& b : v) names.push_back(b.name);
    return names;
  };
  // Three backups of the same second (-2 and -10: a sequence, not text, orders them), one a
  // second later and one given a name of its own.
  const std::vector<hb::backup_info> backups = {
      info("hone-2024-01-15-143022-2.db.gz", t), info("hone-2024-01-15-143022.db.gz", t),
      info("hone-2024-01-15-143022-10.db.gz", t), info("hone-2024-01-15-143023.db.gz", t + 1s),
      info("nightly.db.gz", t - 1h)};
  const std::vector<std::string> with_prefix = {"hone-2024-01-15-143023.db.gz", "hone-2024-01-15-143022-10.db.gz",
                                                "hone-2024-01-15-143022-2.db.gz", "hone-2024-01-15-143022.db.gz",
                                                "nightly.db.gz"};
  BOOST_TEST(order(backups, hb::newest_first("hone-")) == with_prefix, boost::test_tools::per_element());
  // With another prefix the suffixes are no sequence: the same second is ordered by name.
  const std::vector<std::string> by_name = {"hone-2024-01-15-143023.db.gz", "hone-2024-01-15-143022.db.gz",
                                            "hone-2024-01-15-143022-2.db.gz", "hone-2024-01-15-143022-10.db.gz",
                                            "nightly.db.gz"};
  BOOST_TEST(order(backups, hb::newest_first{}) == by_name, boost::test_tools::per_element());
  // Irreflexive, and a total order on distinct names.
  const hb::newest_first by("hone-");
  for (const auto& a : backups) {
    BOOST_TEST(!by(a, a));
    for (const auto& b : backups)
      if (a.name != b.name) BOOST_TEST(by(a, b) != by(b, a));
  }
}

BOOST_AUTO_TEST_SUITE_END()
