#include "core/app.hpp"

#include "config/environment.hpp"
#include "core/log.hpp"

#include <hone/backup/hone_key.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// Hone's data folder: $XDG_DATA_HOME/hone (when absolute), else ~/.local/share/hone.
fs::path default_data_directory() {
  if (auto x = env("XDG_DATA_HOME"); !x.empty() && x.front() == '/') return fs::path(x) / "hone";
  return fs::path(env("HOME")) / ".local" / "share" / "hone";
}

fs::path default_data_dir_checked() {
  fs::path d = default_data_directory();
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

bool key_configured() { return secret("HONE_DB_KEY").has_value(); }

hb::database_key load_key() {
  std::optional<std::string> pass = secret("HONE_DB_KEY");
  if (!pass) {
    log_debug("HONE_DB_KEY is not set: the database is treated as unencrypted");
    return hb::database_key::none();
  }
  const auto t0 = std::chrono::steady_clock::now();
  hb::database_key key = hb::hone_key(*pass);
  ::explicit_bzero(pass->data(), pass->size());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  log_debug("key derived from HONE_DB_KEY with Argon2id in " + std::to_string(ms.count()) + " ms");
  return key;
}

namespace {
std::mutex g_cleanup_mutex;
std::vector<fs::path> g_temp_files;  // guarded by g_cleanup_mutex: files and private folders
sigset_t g_cleanup_signals;

void remove_temporaries_locked() {
  std::error_code ec;
  for (const auto& p : g_temp_files) fs::remove_all(p, ec);
}

/// "The temporary folder /x (TMPDIR) does not exist; ..." for errno `e` from using `base`.
std::string temp_problem_text(const fs::path& base, int e) {
  const std::string where = "The temporary folder " + base.string() +
                            (env("TMPDIR").empty() ? " (the default; TMPDIR is not set)" : " (TMPDIR)");
  switch (e) {
    case ENOENT: return where + " does not exist; create it or set TMPDIR to a writable folder";
    case ENOTDIR: return where + " is not a folder; set TMPDIR to a writable folder";
    case EACCES:
    case EPERM:
    case EROFS: return where + " is not writable (" + std::strerror(e) + "); set TMPDIR to a writable folder";
    default: return where + " cannot be used (" + std::strerror(e) + "); set TMPDIR to a writable folder";
  }
}

/// errno describing why `dir` cannot hold temporary files, or 0.
int temp_folder_errno(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return errno;
  return 0;
}
}  // namespace

fs::path temp_base() {
  const std::string t = env("TMPDIR");
  return t.empty() ? fs::path("/tmp") : absolute(t);
}

void require_temp_folder() {
  const fs::path base = temp_base();
  if (int e = temp_folder_errno(base); e != 0) throw hb::io_error(temp_problem_text(base, e));
}

std::vector<fs::path> make_private_folders(const fs::path& dir) {
  std::error_code ec;
  if (dir.empty() || fs::is_directory(dir, ec)) return {};
  auto created = make_private_folders(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) == 0)
    created.push_back(dir);
  else if (errno != EEXIST)
    throw hb::io_error("Cannot create the folder " + dir.string() + ": " + std::strerror(errno));
  return created;
}

void remove_empty_folders(const std::vector<fs::path>& folders) {
  for (auto it = folders.rbegin(); it != folders.rend(); ++it) ::rmdir(it->c_str());
}

pre_restore_copies find_pre_restore_copies(const fs::path& link_or_database) {
  const fs::path database = hb::restored_file_path(link_or_database);  // restore keeps them there
  pre_restore_copies out;
  const std::string prefix = database.filename().string() + ".pre-restore-";
  std::error_code ec;
  fs::directory_iterator it(database.parent_path(), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (!n.starts_with(prefix) || !it->is_regular_file(ec)) continue;
    const auto size = it->file_size(ec);
    if (!ec) out.bytes += size;
    if (!n.ends_with("-wal") && !n.ends_with("-shm") && !n.ends_with("-journal")) out.names.push_back(n);
  }
  std::sort(out.names.begin(), out.names.end());
  return out;
}

hb::observer_fn step_logger(const fs::path& backup_dir) {
  struct state {
    std::mutex m;
    std::string stage;
  };
  auto st = std::make_shared<state>();
  return [st, dir = backup_dir.string()](const hb::event& e) {
    if (!verbose()) return;
    const std::string op(hb::to_string(e.op));
    const std::string who = e.name.empty() ? op : op + " " + e.name;
    auto stage_line = [&](const std::string& stage) {
      if (stage == "compress" && e.op == hb::event::operation::create)
        return who + ": compress started (gzip, written to a hidden temporary file in " + dir + ")";
      return who + ": " + stage + " started";
    };
    std::lock_guard lk(st->m);
    switch (e.what) {
      case hb::event::kind::started:
        if (e.stage.empty()) {
          st->stage.clear();
          log_debug(who + ": started");
        } else if (e.stage != st->stage) {
          st->stage = e.stage;
          log_debug(stage_line(e.stage));
        }
        break;
      case hb::event::kind::progress:
        if (!e.stage.empty() && e.stage != st->stage) {  // a stage announced only by its progress
          st->stage = e.stage;
          log_debug(stage_line(e.stage));
        }
        break;
      case hb::event::kind::finished:
        if (e.op == hb::event::operation::create)
          log_debug(who + ": store: written, fsynced and renamed into " + dir + " (the folder fsynced too)");
        log_debug(who + ": finished");
        break;
      case hb::event::kind::failed: log_debug(who + ": failed: " + program_message(e.message)); break;
    }
  };
}

interrupt_cleanup::interrupt_cleanup() {
  sigemptyset(&g_cleanup_signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&g_cleanup_signals, s);
  pthread_sigmask(SIG_BLOCK, &g_cleanup_signals, nullptr);  // inherited by every later thread
  // SIGXFSZ (a file size limit reached) would kill the process without cleaning up; ignored,
  // the write fails with EFBIG instead, which is reported like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
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

int create_registered_temp_file(std::string& tmpl, std::initializer_list<const char*> also) {
  std::lock_guard lk(g_cleanup_mutex);  // the signal thread removes the registered files under it
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return -1;
  g_temp_files.emplace_back(tmpl);
  for (const char* sfx : also) g_temp_files.emplace_back(tmpl + sfx);
  return fd;
}

namespace {
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}
}  // namespace

std::string program_message(std::string message) {
  replace_all(message, "encrypted and no key was given", "encrypted, but HONE_DB_KEY is not set");
  replace_all(message, "no key was given", "HONE_DB_KEY is not set");
  replace_all(message, "a database key is configured", "HONE_DB_KEY is set");
  return message;
}

std::string program_message(const hb::error& e) {
  std::string m = program_message(std::string(e.what()));
  switch (e.code()) {
    case hb::errc::unencrypted_backup:
      return m + "; nothing was changed (to restore an unencrypted database on purpose, run without HONE_DB_KEY)";
    case hb::errc::key_required: return m + "; set HONE_DB_KEY to the passphrase that was active when it was made";
    case hb::errc::database_exists: return m + " (use --force / \"force\": true)";
    default: return m;
  }
}

int exit_code_for(const hb::error& e) {
  switch (e.code()) {
    case hb::errc::invalid_name:
    case hb::errc::invalid_argument: return exit_usage;
    default: return exit_failure;
  }
}

std::string hint_for(const hb::error& e) {
  switch (e.code()) {
    case hb::errc::directory_access:
      return "create the folder (mkdir -p) or choose another one with --dir / HONE_BACKUP_DIR";
    case hb::errc::export_failed:
      return "check free disk space and the temp folder's permissions; run with --verbose for details";
    case hb::errc::encryption:
      return "HONE_DB_KEY must be the passphrase that was active when the backup (or database) was created";
    case hb::errc::database_not_found: return "set --db or HONE_DB_PATH, or create a demo database with 'hone demo-db'";
    case hb::errc::not_found: return "run 'hone backup list' to see the backups in this folder";
    case hb::errc::database_busy:
      return "wait for a restore in progress to finish, or stop the Hone server (or whatever has the database open), "
             "and run the restore again";
    case hb::errc::unencrypted_backup:
      return "choose an encrypted backup ('hone backup list' shows which are), or unset HONE_DB_KEY on purpose";
    case hb::errc::key_required: return "export HONE_DB_KEY='the passphrase' (it is never taken from the command line)";
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
