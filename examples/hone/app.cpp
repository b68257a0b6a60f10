#include "app.hpp"

#include "log.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

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
    throw usage_error(
        "cannot find the default data folder (HOME is not set); use --db and --dir, or set "
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

namespace {
std::mutex g_cleanup_mutex;
fs::path g_private_temp;             // guarded by g_cleanup_mutex
std::vector<fs::path> g_temp_files;  // guarded by g_cleanup_mutex
sigset_t g_cleanup_signals;

void remove_temporaries_locked() {
  std::error_code ec;
  if (!g_private_temp.empty()) fs::remove_all(g_private_temp, ec);
  for (const auto& p : g_temp_files) fs::remove(p, ec);
}
}  // namespace

interrupt_cleanup::interrupt_cleanup() {
  sigemptyset(&g_cleanup_signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&g_cleanup_signals, s);
  pthread_sigmask(SIG_BLOCK, &g_cleanup_signals, nullptr);  // inherited by every later thread
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (!ec) {
    std::string tmpl = (base / "hone-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) {
      std::lock_guard lk(g_cleanup_mutex);
      g_private_temp = tmpl;
    }
  }
  std::thread([] {
    int sig = 0;
    while (sigwait(&g_cleanup_signals, &sig) != 0) {
    }
    {
      std::lock_guard lk(g_cleanup_mutex);
      remove_temporaries_locked();
    }
    if (::isatty(STDERR_FILENO) == 1) {
      const char erase[] = "\r\033[K";
      (void)!::write(STDERR_FILENO, erase, sizeof erase - 1);
    }
    const std::string msg = std::string("error: interrupted (") +
                            (sig == SIGINT    ? "SIGINT"
                             : sig == SIGTERM ? "SIGTERM"
                                              : "SIGHUP") +
                            "); nothing half-done was kept\n";
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    std::_Exit(128 + sig);
  }).detach();
}

interrupt_cleanup::~interrupt_cleanup() {
  std::lock_guard lk(g_cleanup_mutex);
  remove_temporaries_locked();
  g_private_temp.clear();
  g_temp_files.clear();
}

void register_temp_file(const fs::path& p) {
  std::lock_guard lk(g_cleanup_mutex);
  g_temp_files.push_back(p);
}

void unregister_temp_file(const fs::path& p) {
  std::lock_guard lk(g_cleanup_mutex);
  std::erase(g_temp_files, p);
}

hb::local_runner make_runner(const fs::path& database, const hb::database_key& key, const fs::path& backup_dir,
                             hb::observer_fn observer, hb::check_level check) {
  hb::sqlcipher_exporter::options eopts;
  eopts.key = key;
  eopts.check = check;
  hb::runner_options ropts;
  ropts.observer = std::move(observer);
  {
    std::lock_guard lk(g_cleanup_mutex);
    if (!g_private_temp.empty()) ropts.temp_directory = g_private_temp;
  }
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
