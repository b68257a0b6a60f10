// A Compressor without suffix(): BackupRunner must refuse it, naming the member.
// expect: Compressor requirements not met: missing `std::string_view suffix\(\) const`
#define HONE_OMIT_SUFFIX
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
