// The smallest use of the library: back up an SQLite database of any schema (not encrypted)
// into a folder, list the folder's backups and verify the new one.
// Usage: minimal DATABASE FOLDER   (exits 0 when the new backup verifies)
#include <hone/backup.hpp>

#include <cstdio>

namespace hb = hone::backup;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATABASE FOLDER\n", argv[0]);
    return 2;
  }
  try {
    hb::sqlcipher_exporter::options opts;  // no key: a plain SQLite database
    opts.counts = {{"tables", "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"}};
    hb::local_runner runner(hb::sqlcipher_exporter(argv[1], opts), hb::gzip_compressor{}, hb::local_directory(argv[2]),
                            hb::system_clock{});

    const hb::backup_info made = runner.create();
    std::printf("created %s (%llu bytes, %lld tables)\n", made.name.c_str(), static_cast<unsigned long long>(made.size),
                static_cast<long long>(made.counts["tables"].value_or(0)));

    for (const hb::backup_info& b : runner.list())  // newest first
      std::printf("  %s  %s\n", hb::iso8601(b.created_at).c_str(), b.name.c_str());

    const hb::verify_result v = runner.verify(made.name);
    std::printf("verify %s: %s\n", v.name.c_str(), v.valid ? "valid" : v.message.c_str());
    return v.valid ? 0 : 1;
  } catch (const hb::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
