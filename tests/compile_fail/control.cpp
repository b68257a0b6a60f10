// The control case: the same policy types with every member present compile. It proves that
// the missing_*.cpp tests fail because of the member they omit, not because of the harness.
#include "policies.hpp"

static_assert(hone::backup::Exporter<compile_fail::my_exporter>);
static_assert(hone::backup::Compressor<compile_fail::my_compressor>);
static_assert(hone::backup::Destination<compile_fail::my_destination>);
static_assert(hone::backup::Clock<compile_fail::my_clock>);

int main() {
  compile_fail::use_runner();
  compile_fail::use_page_runner();
}
