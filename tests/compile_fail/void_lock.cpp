// A Destination whose lock() returns nothing: BackupRunner must refuse it (a lock must be held).
// expect: Destination requirements not met: missing `lock\(\)` returning a movable guard
#define HONE_VOID_LOCK
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
