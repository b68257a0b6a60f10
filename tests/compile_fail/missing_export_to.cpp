// An Exporter without export_to(): BackupRunner must refuse it, naming the member.
// expect: Exporter requirements not met: missing `export_result export_to\(const std::filesystem::path&, const progress_fn&\)`
#define HONE_OMIT_EXPORT_TO
#include "policies.hpp"

int main() { compile_fail::use_runner(); }
