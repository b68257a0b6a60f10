// A Destination without lock(): BackupRunner must refuse it, naming the member.
// expect: Destination requirements not met: missing `lock\(\)`
#define HONE_OMIT_LOCK
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
