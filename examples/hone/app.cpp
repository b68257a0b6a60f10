#include "app.hpp"

#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

fs::path default_data_dir_checked() {
  fs::path d = hb::default_data_directory();
  if (!d.is_absolute())
    throw usage_error("cannot find the default data folder (HOME is not set); use --db and --dir, or set "
                      "HONE_DB_PATH and HONE_BACKUP_DIR");
  return d;
}

fs::path absolute(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal();
}

}  // namespace

fs::path resolve_database(const std::string& option) {
  if (!option.empty()) return absolute(option);
  if (auto e = env("HONE_DB_PATH"); !e.empty()) return absolute(e);
  return default_data_dir_checked() / "hone.db";
}

fs::path resolve_backup_dir(const std::string& option) {
  if (!option.empty()) return absolute(option);
  if (auto e = env("HONE_BACKUP_DIR"); !e.empty()) return absolute(e);
  return default_data_dir_checked() / "backups";
}

bool key_configured() { return !env("HONE_DB_KEY").empty(); }

hb::database_key load_key() {
  const char* pass = std::getenv("HONE_DB_KEY");
  if (!pass || !*pass) {
    log_debug("HONE_DB_KEY is not set: the database is treated as unencrypted");
    return hb::database_key::none();
  }
  const auto t0 = std::chrono::steady_clock::now();
  hb::database_key key = hb::database_key::hone(pass);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  log_debug("key derived from HONE_DB_KEY with Argon2id in " + std::to_string(ms.count()) + " ms");
  return key;
}

hb::local_runner make_runner(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                             hb::observer_fn observer) {
  hb::sqlcipher_exporter::options eopts;
  eopts.key = key;
  hb::runner_options ropts;
  ropts.observer = std::move(observer);
  return hb::local_runner(hb::sqlcipher_exporter(database, std::move(eopts)), hb::gzip_compressor{},
                          hb::local_directory(backup_dir), hb::system_clock{}, std::move(ropts));
}

int exit_code_for(const hb::error& e) {
  switch (e.code()) {
    case hb::errc::invalid_name:
    case hb::errc::invalid_argument: return exit_usage;
    default: return exit_failure;
  }
}

std::string hint_for(const hb::error& e) {
  const std::string_view what = e.what();
  switch (e.code()) {
    case hb::errc::directory_access:
      return "create the folder (mkdir -p) or choose another one with --dir / HONE_BACKUP_DIR";
    case hb::errc::export_failed:
      return "check free disk space and the temp folder's permissions; run with --verbose for details";
    case hb::errc::encryption:
      return "HONE_DB_KEY must be the passphrase that was active when the backup (or database) was created";
    case hb::errc::database:
      if (what.starts_with("Database not found"))
        return "set --db or HONE_DB_PATH, or create a demo database with 'hone demo-db'";
      return {};
    case hb::errc::not_found: return "run 'hone backup list' to see the backups in this folder";
    default: return {};
  }
}

std::string human_size(std::uint64_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string human_time(hb::time_point t) {
  std::string s = hb::iso8601(t);  // 2024-01-15T14:30:22Z
  s[10] = ' ';
  s.pop_back();
  return s;
}

}  // namespace hone_app
