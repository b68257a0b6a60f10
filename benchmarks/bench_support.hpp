// Shared pieces of the benchmarks: settings, statistics, operations run in child processes
// (wall time and peak RSS), Hone-style databases cached on disk, and the machine description.
#pragma once

#include <hone/backup.hpp>
#include <hone/backup/hone_key.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <libdeflate.h>

namespace hone_bench {

namespace fs = std::filesystem;
namespace hb = hone::backup;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Settings (command line after `--`, see usage()).

struct settings {
  std::vector<int> sizes_mb{20, 250};  ///< database sizes (10^6 bytes)
  int reps = 0;                        ///< repetitions; 0: 5 below 100 MB, 3 from there
  int reps_for(int size_mb) const { return reps > 0 ? reps : size_mb < 100 ? 5 : 3; }
  fs::path scratch;            ///< cached databases and temp files
  fs::path json_out;           ///< where the JSON goes (empty: none)
  fs::path markdown_out;       ///< where the markdown table goes as well (empty: stdout only)
  double writer_idle_s = 1.0;  ///< writer test: quiet time before, between and after backups
  int writer_backups = 3;      ///< writer test: backups taken while the writer commits
  bool smoke = false;          ///< tiny run that only proves everything works
  std::vector<std::string> kinds{"encrypted", "plain"};
};

inline const char* usage() {
  return "usage: hone-bench [boost.test options] -- [--size MB[,MB...]] [--reps N] [--scratch DIR]\n"
         "                  [--json FILE] [--markdown FILE] [--kinds encrypted,plain] [--writer-backups N]\n"
         "                  [--writer-idle SECONDS] [--smoke]\n";
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

inline settings parse_settings(int argc, char** argv) {
  settings s;
  if (const char* d = std::getenv("HONE_BENCH_SCRATCH")) s.scratch = d;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a + "\n" + usage());
      return argv[++i];
    };
    if (a == "--size" || a == "--sizes") {
      s.sizes_mb.clear();
      for (auto& x : split(value(), ',')) s.sizes_mb.push_back(std::stoi(x));
    } else if (a == "--reps") {
      s.reps = std::max(1, std::stoi(value()));
    } else if (a == "--scratch") {
      s.scratch = value();
    } else if (a == "--json") {
      s.json_out = value();
    } else if (a == "--markdown") {
      s.markdown_out = value();
    } else if (a == "--kinds") {
      s.kinds = split(value(), ',');
    } else if (a == "--writer-backups") {
      s.writer_backups = std::max(1, std::stoi(value()));
    } else if (a == "--writer-idle") {
      s.writer_idle_s = std::stod(value());
    } else if (a == "--smoke") {
      s.smoke = true;
    } else {
      throw std::runtime_error("unknown argument " + a + "\n" + usage());
    }
  }
  if (s.smoke) {
    s.sizes_mb = {1};
    s.reps = 1;
    s.writer_backups = 1;
    s.writer_idle_s = 0.3;
  }
  if (s.scratch.empty()) s.scratch = fs::temp_directory_path() / "hone-bench";
  return s;
}

// ---------------------------------------------------------------------------------------------
// Time and statistics.

inline double mono_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Nearest-rank percentile (p in [0, 100]).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

inline double load_average() {
  double l[3] = {};
  return ::getloadavg(l, 3) > 0 ? l[0] : NAN;
}

// ---------------------------------------------------------------------------------------------
// Operations in child processes: the child times the work itself (fork is not counted) and
// reports through a pipe; the parent reads the child's peak RSS from wait4(). Nothing is
// subtracted: the figure is the whole process (the forked image of this small program
// included), which is what a user of the library sees.

struct sample {
  bool ok = false;
  double seconds = 0;
  double max_rss_mib = 0;
  double cpu_seconds = 0;  ///< user + system CPU of the whole child (fork to exit)
  json extra;              ///< what the operation reported (sizes, flags)
  std::string error;       ///< when !ok
};

inline void write_all_fd(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

/// Runs f() in a forked child; f returns a JSON object of facts about what it did.
inline sample in_child(const std::function<json()>& f) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    json r;
    try {
      double t0 = mono_now();
      json extra = f();
      double t1 = mono_now();
      r = {{"ok", true}, {"seconds", t1 - t0}, {"extra", extra}};
    } catch (const std::exception& e) {
      r = {{"ok", false}, {"error", e.what()}};
    } catch (...) {
      r = {{"ok", false}, {"error", "unknown exception"}};
    }
    write_all_fd(fds[1], r.dump());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  sample s;
  s.max_rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  if (!WIFEXITED(status) || text.empty()) {
    s.error = "child died (status " + std::to_string(status) + ")";
    return s;
  }
  json r = json::parse(text);
  s.ok = r.value("ok", false);
  if (s.ok) {
    s.seconds = r["seconds"].get<double>();
    s.extra = r["extra"];
  } else {
    s.error = r.value("error", "?");
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Plain file helpers used by the reference operations.

inline std::uint64_t bytes_of(const fs::path& p) { return fs::file_size(p); }

inline hb::detail::unique_fd open_read(const fs::path& p) {
  hb::detail::unique_fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw std::runtime_error("cannot open " + p.string());
  return fd;
}
inline hb::detail::unique_fd create_file(const fs::path& p) {
  hb::detail::unique_fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error("cannot create " + p.string());
  return fd;
}

/// The floor: read the file and write a copy, 1 MiB at a time, then fsync (as create does).
inline std::uint64_t raw_copy(const fs::path& from, const fs::path& to) {
  auto in = open_read(from);
  auto out = create_file(to);
  std::vector<std::byte> buf(1 << 20);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = hb::detail::read_some(in.get(), buf, "read");
    if (n == 0) break;
    hb::detail::write_all(out.get(), {buf.data(), n}, "write");
    total += n;
  }
  hb::detail::fsync_checked(out.get(), "fsync");
  return total;
}

/// What the original does after its export: zlib at the given level over the whole file, one
/// thread, one gzip member (like flate2's GzEncoder / `gzip -6`). Like the original, no fsync.
inline std::uint64_t zlib_gzip_file(const fs::path& from, const fs::path& to, int level) {
  auto in = open_read(from);
  auto out = create_file(to);
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  constexpr std::size_t chunk = 128 * 1024;
  std::vector<unsigned char> ib(chunk), ob(chunk);
  std::uint64_t written = 0;
  for (bool end = false; !end;) {
    std::size_t n = hb::detail::read_some(in.get(), std::as_writable_bytes(std::span(ib)), "read");
    end = n == 0;
    z.next_in = ib.data();
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = ob.data();
      z.avail_out = static_cast<uInt>(chunk);
      deflate(&z, end ? Z_FINISH : Z_NO_FLUSH);
      std::size_t have = chunk - z.avail_out;
      hb::detail::write_all(out.get(), std::as_bytes(std::span(ob.data(), have)), "write");
      written += have;
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return written;
}

/// The reference for verify and restore: decompress the backup with zlib into a new file and
/// fsync it (what any restore has to do at least). Returns the decompressed size.
inline std::uint64_t zlib_gunzip_file(const fs::path& from, const fs::path& to) {
  auto in = open_read(from);
  auto out = create_file(to);
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  constexpr std::size_t chunk = 256 * 1024;
  std::vector<unsigned char> ib(chunk), ob(chunk);
  std::uint64_t total = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    std::size_t n = hb::detail::read_some(in.get(), std::as_writable_bytes(std::span(ib)), "read");
    if (n == 0) throw std::runtime_error("truncated gzip file");
    z.next_in = ib.data();
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = ob.data();
      z.avail_out = static_cast<uInt>(chunk);
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) throw std::runtime_error("inflate failed");
      std::size_t have = chunk - z.avail_out;
      hb::detail::write_all(out.get(), std::as_bytes(std::span(ob.data(), have)), "write");
      total += have;
    } while (z.avail_out == 0 && rc != Z_STREAM_END);
  }
  inflateEnd(&z);
  hb::detail::fsync_checked(out.get(), "fsync");
  return total;
}

// ---------------------------------------------------------------------------------------------
// Hone-style databases: the original's three tables (accounts, transactions, subscriptions) with rows that look like
// bank imports, in WAL mode, plain and encrypted with the key the original derives from
// HONE_DB_KEY. Generated once per size and cached: the plain file first, then the encrypted
// one as sqlcipher_export() of it, so that both hold exactly the same rows.

inline const char* generator_version() { return "g1"; }

inline const hb::database_key& bench_key() {
  // The original's key form (Argon2id, then SQLCipher's PBKDF2 on every open): what a Hone
  // installation pays, so it is part of every measured operation.
  static const hb::database_key k = hb::hone_key("hone benchmark passphrase");
  return k;
}

inline void set_pragma(sqlite3* db, const std::string& sql) { hb::detail::exec(db, sql); }

/// The original's export step, as the original does it: ATTACH the target with the key,
/// `SELECT sqlcipher_export()`, DETACH, with SQLite's default durability (a rollback journal
/// and fsyncs for the target). The key and the path are bound, not pasted into SQL (the
/// original pastes them; the cost is the same). This is "export alone" in the issue's sense.
inline std::uint64_t original_export(const fs::path& db_path, bool encrypted, const fs::path& to) {
  const hb::database_key& key = encrypted ? bench_key() : hb::database_key{};
  // CREATE: an attached file inherits the main connection's open flags.
  auto db = hb::detail::open_database(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, key);
  {
    hb::detail::statement a(db.get(), "ATTACH DATABASE ?1 AS backup KEY ?2");
    a.bind(1, to.string()).bind(2, key.expose_secret());
    a.step();
  }
  hb::detail::exec(db.get(), "SELECT sqlcipher_export('backup')");
  hb::detail::exec(db.get(), "DETACH DATABASE backup");
  return static_cast<std::uint64_t>(fs::file_size(to));
}

/// Fills a plain database with Hone tables until it holds about target_bytes.
inline void generate_plain(const fs::path& p, std::uint64_t target_bytes) {
  auto db = hb::detail::open_database(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, hb::database_key{});
  sqlite3* h = db.get();
  set_pragma(h, "PRAGMA journal_mode = MEMORY");
  set_pragma(h, "PRAGMA synchronous = OFF");
  set_pragma(h, R"(
    CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, bank TEXT NOT NULL,
      account_type TEXT, entity_id INTEGER, created_at DATETIME DEFAULT CURRENT_TIMESTAMP))");
  set_pragma(h, R"(
    CREATE TABLE transactions(id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id),
      date DATE NOT NULL, description TEXT NOT NULL, amount REAL NOT NULL, category TEXT,
      merchant_normalized TEXT, import_hash TEXT UNIQUE, created_at DATETIME DEFAULT CURRENT_TIMESTAMP))");
  set_pragma(h, R"(
    CREATE TABLE subscriptions(id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, account_id INTEGER,
      amount REAL, frequency TEXT, first_seen DATE, last_seen DATE, status TEXT DEFAULT 'active'))");
  set_pragma(h, "CREATE INDEX idx_transactions_date ON transactions(date)");
  set_pragma(h, "CREATE INDEX idx_transactions_account ON transactions(account_id)");

  static const char* banks[] = {"Chase", "Bank of America", "Wells Fargo", "Capital One", "Ally", "USAA"};
  static const char* merchants[] = {
      "STARBUCKS", "WHOLE FOODS", "TRADER JOES", "AMAZON MKTPLACE", "SHELL OIL",       "CHEVRON",
      "TARGET",    "WALMART",     "COSTCO WHSE", "NETFLIX.COM",     "SPOTIFY USA",     "UBER TRIP",
      "LYFT RIDE", "DOORDASH",    "CHIPOTLE",    "HOME DEPOT",      "LOWES",           "CVS PHARMACY",
      "WALGREENS", "APPLE.COM",   "PG&E WEB",    "COMCAST",         "VERIZON WRLS",    "SAFEWAY",
      "KROGER",    "BEST BUY",    "IKEA",        "DELTA AIR",       "UNITED AIRLINES", "MARRIOTT",
      "AIRBNB",    "HULU",        "PELOTON",     "PLANET FITNESS",  "GEICO AUTO",      "STATE FARM"};
  static const char* cities[] = {"SEATTLE WA", "PORTLAND OR", "SAN JOSE CA", "AUSTIN TX",  "DENVER CO",
                                 "BOSTON MA",  "CHICAGO IL",  "NEW YORK NY", "ATLANTA GA", "PHOENIX AZ"};
  static const char* kinds[] = {"POS PURCHASE", "DEBIT CARD PURCHASE", "RECURRING PAYMENT", "ACH DEBIT",
                                "ONLINE PAYMENT"};
  static const char* categories[] = {"groceries", "dining", "transport",     "shopping", "utilities", "entertainment",
                                     "travel",    "health", "subscriptions", "fuel",     "home",      "insurance"};
  constexpr int account_count = 12;

  hb::detail::exec(h, "BEGIN");
  for (int i = 1; i <= account_count; ++i) {
    hb::detail::statement s(h, "INSERT INTO accounts(name, bank, account_type) VALUES (?1, ?2, ?3)");
    s.bind(1, "Account " + std::to_string(i))
        .bind(2, std::string(banks[i % 6]))
        .bind(3, std::string(i % 3 ? "checking" : "credit"));
    s.step();
  }
  for (int i = 1; i <= 60; ++i) {
    hb::detail::statement s(h,
                            "INSERT INTO subscriptions(merchant, account_id, amount, frequency, first_seen, last_seen, "
                            "status) VALUES (?1, ?2, ?3, 'monthly', '2021-03-01', '2024-11-01', ?4)");
    s.bind(1, std::string(merchants[i % 36]) + " " + std::to_string(i))
        .bind(2, std::int64_t(1 + i % account_count))
        .bind(3, std::int64_t(5 + i % 40))
        .bind(4, std::string(i % 6 ? "active" : "cancelled"));
    s.step();
  }
  hb::detail::exec(h, "COMMIT");

  std::mt19937_64 rng(20240115);
  hb::detail::statement ins(h,
                            "INSERT INTO transactions(account_id, date, description, amount, category, "
                            "merchant_normalized, import_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  auto page_bytes = [&] {
    hb::detail::statement a(h, "PRAGMA page_count");
    a.step();
    std::int64_t pages = a.column_int(0);
    hb::detail::statement b(h, "PRAGMA page_size");
    b.step();
    return static_cast<std::uint64_t>(pages * b.column_int(0));
  };
  char hex[33];
  char date[16];
  char when[32];
  std::int64_t row = 0;
  while (page_bytes() < target_bytes) {
    hb::detail::exec(h, "BEGIN");
    for (int k = 0; k < 500; ++k, ++row) {
      std::uint64_t r = rng();
      int m = static_cast<int>(r % 36);
      int day = static_cast<int>((row / 40) % 1800);
      int y = 2020 + day / 360, mo = 1 + (day % 360) / 30, d = 1 + day % 30 % 28;
      std::snprintf(date, sizeof date, "%04d-%02d-%02d", y, mo, d);
      std::snprintf(when, sizeof when, "%s %02d:%02d:%02d", date, int(r >> 8) % 24, int(r >> 16) % 60,
                    int(r >> 24) % 60);
      std::uint64_t h1 = rng(), h2 = rng();
      std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h1),
                    static_cast<unsigned long long>(h2));
      std::string desc = std::string(kinds[(r >> 32) % 5]) + " " + merchants[m] + " #" +
                         std::to_string(1000 + (r >> 36) % 9000) + " " + cities[(r >> 50) % 10];
      double amount = -static_cast<double>((r >> 40) % 20000) / 100.0;
      ins.bind(1, std::int64_t(1 + (r >> 20) % account_count))
          .bind(2, std::string(date))
          .bind(3, desc)
          .bind(5, std::string(categories[m % 12]))
          .bind(6, std::string(merchants[m]))
          .bind(7, std::string(hex))
          .bind(8, std::string(when));
      sqlite3_bind_double(ins.get(), 4, amount);
      ins.step();
      sqlite3_reset(ins.get());
    }
    hb::detail::exec(h, "COMMIT");
  }
  set_pragma(h, "PRAGMA journal_mode = WAL");  // as Hone runs it
}

/// The same rows in an encrypted file (SQLCipher defaults of the linked version), WAL mode.
inline void encrypt_copy(const fs::path& plain, const fs::path& encrypted) {
  // CREATE: an ATTACHed file inherits the flags of the main connection.
  auto db = hb::detail::open_database(plain, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, hb::database_key{});
  {
    hb::detail::statement a(db.get(), "ATTACH DATABASE ?1 AS enc KEY ?2");
    a.bind(1, encrypted.string()).bind(2, bench_key().expose_secret());
    a.step();
  }
  hb::detail::exec(db.get(), "SELECT sqlcipher_export('enc')");
  hb::detail::exec(db.get(), "DETACH DATABASE enc");
  db.reset();
  auto e = hb::detail::open_database(encrypted, SQLITE_OPEN_READWRITE, bench_key());
  set_pragma(e.get(), "PRAGMA journal_mode = WAL");
}

/// The cached database of this kind and size, generated when missing.
inline fs::path cached_database(const settings& s, const std::string& kind, int size_mb) {
  fs::create_directories(s.scratch);
  const std::string tag =
      std::to_string(size_mb) + "MB-" + generator_version() + "-c" + std::to_string(hb::detail::sqlcipher_major());
  const fs::path plain = s.scratch / ("hone-plain-" + tag + ".db");
  const fs::path enc = s.scratch / ("hone-encrypted-" + tag + ".db");
  auto fresh = [](const fs::path& p) {
    std::error_code ec;
    fs::remove(p, ec);
    fs::remove(p.string() + "-wal", ec);
    fs::remove(p.string() + "-shm", ec);
  };
  if (!fs::exists(plain)) {
    const fs::path tmp = plain.string() + ".partial";
    fresh(tmp);
    double t0 = mono_now();
    std::printf("generating %s (%d MB)...\n", plain.filename().c_str(), size_mb);
    std::fflush(stdout);
    generate_plain(tmp, static_cast<std::uint64_t>(size_mb) * 1000 * 1000);
    fs::rename(tmp, plain);
    std::printf("  done in %.1f s\n", mono_now() - t0);
  }
  if (kind == "encrypted" && !fs::exists(enc)) {
    const fs::path tmp = enc.string() + ".partial";
    fresh(tmp);
    double t0 = mono_now();
    std::printf("generating %s...\n", enc.filename().c_str());
    std::fflush(stdout);
    encrypt_copy(plain, tmp);
    fs::rename(tmp, enc);
    std::printf("  done in %.1f s\n", mono_now() - t0);
  }
  return kind == "encrypted" ? enc : plain;
}

// ---------------------------------------------------------------------------------------------
// The machine.

inline std::string first_line_with(const char* file, const char* prefix) {
  std::ifstream f(file);
  for (std::string line; std::getline(f, line);)
    if (line.rfind(prefix, 0) == 0) {
      auto c = line.find(':');
      std::string v = c == std::string::npos ? line : line.substr(c + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

inline std::string compiler_description() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

inline json machine_info() {
  json m;
  m["cpu"] = first_line_with("/proc/cpuinfo", "model name");
  m["cores"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  m["memory"] = first_line_with("/proc/meminfo", "MemTotal");
  utsname u{};
  if (::uname(&u) == 0) m["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  m["sqlcipher"] = hb::detail::sqlcipher_version();
  m["sqlite"] = sqlite3_libversion();
  m["zlib"] = zlibVersion();
  m["libdeflate"] = LIBDEFLATE_VERSION_STRING;
  m["compiler"] = compiler_description();
#ifdef NDEBUG
  m["assertions"] = false;
#else
  m["assertions"] = true;
#endif
  return m;
}

inline std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace hone_bench
