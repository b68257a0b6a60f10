// A Clock without wait_until(): BackupRunner must refuse it, naming the member.
// expect: Clock requirements not met: missing `bool wait_until\(time_point, std::stop_token\)`
#define HONE_OMIT_WAIT_UNTIL
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
