// A Destination without remove(): BackupRunner must refuse it, naming the member.
// expect: Destination requirements not met: missing `void remove\(const std::string&\)`
#define HONE_OMIT_REMOVE
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
