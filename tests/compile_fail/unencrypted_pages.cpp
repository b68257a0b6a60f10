// A plaintext-page Exporter with a Compressor that does not encrypt: BackupRunner must refuse
// the pair, naming it.
// expect: a plaintext-page Exporter \(plaintext_pages = true\) needs an encrypting Compressor
#define HONE_UNENCRYPTED_PAGES
#include "policies.hpp"

int main() { compile_fail::use_page_runner(); }
