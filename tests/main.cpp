// The one main() shared by every unit test executable.
#define BOOST_TEST_MODULE hone_backup
#include <boost/test/unit_test.hpp>
