// A Clock without now(): BackupRunner must refuse it, naming the member.
// expect: Clock requirements not met: missing `time_point now\(\) const`
#define HONE_OMIT_NOW
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
