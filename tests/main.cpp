// The one main() shared by every unit test executable. Besides running Boost.Test, it prints
// how many test cases passed, failed and were skipped, and exits 77 (the SKIP_RETURN_CODE of
// every Boost.Test executable in tests/) when no case ran because every one was skipped: ctest
// then counts the executable as skipped, not as passed.
#define BOOST_TEST_MODULE hone_backup
#define BOOST_TEST_NO_MAIN
#include <boost/test/results_collector.hpp>
#include <boost/test/tree/observer.hpp>
#include <boost/test/unit_test.hpp>

#include <iostream>

namespace {

constexpr int skipped_exit_code = 77;

struct case_counts {
  unsigned long passed = 0, failed = 0, skipped = 0;
  bool known = false;
};
case_counts counts;

/// Reads the totals of the whole run from Boost.Test's results collector when the run ends
/// (the collector has then summed every case, including those of skipped suites).
class count_observer final : public boost::unit_test::test_observer {
 public:
  void test_finish() override {
    namespace ut = boost::unit_test;
    const ut::test_results& r = ut::results_collector.results(ut::framework::master_test_suite().p_id);
    counts = {r.p_test_cases_passed, r.p_test_cases_failed + r.p_test_cases_aborted, r.p_test_cases_skipped, true};
  }
  int priority() override { return 100; }  // after the results collector
};
count_observer observer;

struct register_observer {
  register_observer() { boost::unit_test::framework::register_observer(observer); }
};
BOOST_TEST_GLOBAL_FIXTURE(register_observer);

}  // namespace

int main(int argc, char* argv[]) {
  const int rc = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
  if (!counts.known) return rc;
  std::cout << "hone-test: cases: " << counts.passed << " passed, " << counts.failed << " failed, " << counts.skipped
            << " skipped" << std::endl;
  if (rc == 0 && counts.passed == 0 && counts.failed == 0 && counts.skipped > 0) return skipped_exit_code;
  return rc;
}
