// A Compressor without decompress(): BackupRunner must refuse it, naming the member.
// expect: Compressor requirements not met: missing `std::uint64_t decompress\(reader&, writer&, const progress_fn&\)`
#define HONE_OMIT_DECOMPRESS
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
