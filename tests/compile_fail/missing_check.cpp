// An Exporter without check(): BackupRunner must refuse it, naming the member.
// expect: Exporter requirements not met: missing `check_result check\(const std::filesystem::path&\) const`
#define HONE_OMIT_CHECK
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
