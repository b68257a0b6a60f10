// A Destination whose list() is not const: BackupRunner must refuse it (listing changes nothing).
// expect: Destination requirements not met: missing `std::vector<stored_entry> list\(\) const`
#define HONE_MUTABLE_LIST
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
