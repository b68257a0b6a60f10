// The consumer program of tests/cmake_find_package, cmake_add_subdirectory and
// cmake_fetchcontent (and of the pkg-config check in scripts/test.sh): each gets hone-backup
// its own way and builds this file. It creates an encrypted database with the plain SQLite
// API and a raw key, backs it up with hone::backup::BackupRunner and verifies the backup. It
// exits 0 only when all of that works.
#include <hone/backup.hpp>

#include <sqlite3.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace hb = hone::backup;
namespace fs = std::filesystem;

int main() {
  const fs::path dir = fs::temp_directory_path() / ("hone-consumer-" + std::to_string(::getpid()));
  bool ok = false;
  try {
    fs::create_directories(dir);
    std::array<std::byte, 32> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(static_cast<unsigned char>(i * 5 + 1));
    const auto key = hb::database_key::raw(bytes);  // x'...': SQLCipher's raw-key form, no PBKDF2

    const fs::path db_path = dir / "app.db";
    sqlite3* db = nullptr;
    const auto secret = key.expose_secret();
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK ||
        sqlite3_key(db, secret.data(), static_cast<int>(secret.size())) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE readings(id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, value REAL);"
                     "INSERT INTO readings(sensor, value) VALUES ('north', 1.5), ('north', 1.7), ('south', 9.0);",
                     nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "cannot create the database: %s\n", db ? sqlite3_errmsg(db) : "out of memory");
      sqlite3_close(db);
      return 1;
    }
    sqlite3_close(db);

    hb::sqlcipher_exporter::options opts;

    opts.counts = {{"readings", "SELECT COUNT(*) FROM readings"},
                   {"sensors", "SELECT COUNT(DISTINCT sensor) FROM readings"}};
    opts.key = key;
    hb::BackupRunner runner(hb::sqlcipher_exporter(db_path, opts), hb::gzip_compressor{},
                            hb::local_directory(dir / "backups"), hb::system_clock{});
    const hb::backup_info made = runner.create();
    const hb::verify_result v = runner.verify(made.name);
    ok = made.encrypted && v.valid && v.encrypted && v.counts["readings"] == 3 && v.counts["sensors"] == 2 &&
         made.counts == v.counts && runner.list().size() == 1;
    std::printf("%s: %s (%llu bytes), verify: %s\n", ok ? "ok" : "FAILED", made.name.c_str(),
                static_cast<unsigned long long>(made.size), v.message.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ok ? 0 : 1;
}
