// Helpers shared by the tests: scratch folders and real SQLCipher databases with the Hone
// tables (accounts, transactions, subscriptions).
#pragma once

#include <hone/backup.hpp>
#include <hone/backup/hone_key.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace hone_test {

namespace fs = std::filesystem;
using namespace hone::backup;

/// The count queries of the Hone tables the test databases hold (the program's own list).
inline std::vector<count_query> hone_count_queries() {
  return {{"accounts", "SELECT COUNT(*) FROM accounts"},
          {"transactions", "SELECT COUNT(*) FROM transactions"},
          {"subscriptions", "SELECT COUNT(*) FROM subscriptions WHERE status = 'active'"}};
}

/// A fresh folder removed with its contents at the end of the test.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& tag = "t") {
    const char* base = std::getenv("HONE_TEST_SCRATCH");
    fs::path root = base ? fs::path(base) : fs::temp_directory_path() / "hone-test-scratch";
    fs::create_directories(root);
    static std::atomic<int> counter{0};
    path_ = root / (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

/// A fixed raw key: SQLCipher skips PBKDF2 for raw keys, which keeps tests fast.
inline database_key test_key() {
  std::array<std::byte, 32> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(i * 7 + 3));
  return database_key::raw(b);
}
inline database_key other_key() {
  std::array<std::byte, 32> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(i * 11 + 1));
  return database_key::raw(b);
}

inline detail::db_ptr open_rw(const fs::path& p, const database_key& key) {
  return detail::open_database(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, key);
}

/// Runs `sql` on `p` in a child process that then dies without closing the database (as a
/// killed application would), so what it committed stays in the -wal file, not yet
/// checkpointed into the database file.
inline void commit_and_die(const fs::path& p, const database_key& key, const std::string& sql) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto db = open_rw(p, key);
    int rc = sqlite3_exec(db.get(), "PRAGMA wal_autocheckpoint = 0", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr);
    ::_exit(rc == SQLITE_OK ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("commit_and_die: the child failed");
}

inline const char* hone_schema() {
  return R"(
    CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, bank TEXT NOT NULL,
      account_type TEXT, entity_id INTEGER, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS transactions(id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id),
      date DATE NOT NULL, description TEXT NOT NULL, amount REAL NOT NULL, category TEXT,
      merchant_normalized TEXT, import_hash TEXT UNIQUE, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE IF NOT EXISTS subscriptions(id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, account_id INTEGER,
      amount REAL, frequency TEXT, first_seen DATE, last_seen DATE, status TEXT DEFAULT 'active');
  )";
}

struct db_spec {
  int accounts = 3;
  int transactions = 200;
  int subscriptions = 4;  ///< active ones; one cancelled row is added as well
  bool wal = true;
};

/// Creates a Hone-style database at p (keyed with `key`, plain when empty).
inline void make_hone_db(const fs::path& p, const database_key& key, db_spec spec = {}) {
  auto db = open_rw(p, key);
  sqlite3* h = db.get();
  detail::exec(h, spec.wal ? "PRAGMA journal_mode = WAL" : "PRAGMA journal_mode = DELETE");
  sqlite3_exec(h, hone_schema(), nullptr, nullptr, nullptr);
  detail::exec(h, "BEGIN");
  for (int i = 1; i <= spec.accounts; ++i) {
    detail::statement s(h, "INSERT INTO accounts(name, bank, account_type) VALUES (?1, ?2, 'checking')");
    s.bind(1, "Account " + std::to_string(i)).bind(2, std::string("Bank O'Neil"));
    s.step();
  }
  std::mt19937 rng(42);
  for (int i = 1; i <= spec.transactions; ++i) {
    detail::statement s(h,
                        "INSERT INTO transactions(account_id, date, description, amount, category, import_hash) "
                        "VALUES (?1, date('2024-01-01', '+' || ?2 || ' days'), ?3, ?4, 'groceries', ?5)");
    s.bind(1, std::int64_t(1 + i % std::max(1, spec.accounts)))
        .bind(2, std::int64_t(i % 365))
        .bind(3, "COFFEE SHOP #" + std::to_string(rng() % 1000) + " PURCHASE")
        .bind(4, std::int64_t(-(static_cast<int>(rng() % 10000))))
        .bind(5, "hash-" + std::to_string(i));
    s.step();
  }
  for (int i = 1; i <= spec.subscriptions + 1; ++i) {
    detail::statement s(
        h, "INSERT INTO subscriptions(merchant, amount, frequency, status) VALUES (?1, 9.99, 'monthly', ?2)");
    s.bind(1, "Merchant " + std::to_string(i)).bind(2, std::string(i <= spec.subscriptions ? "active" : "cancelled"));
    s.step();
  }
  detail::exec(h, "COMMIT");
}

/// Every row of every table, as text, in a stable order: equal dumps mean equal contents.
inline std::string dump(const fs::path& p, const database_key& key) {
  auto db = detail::open_database(p, SQLITE_OPEN_READONLY, key);
  std::vector<std::string> tables;
  {
    detail::statement s(db.get(), "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
    while (s.step()) tables.push_back(s.column_text(0));
  }
  std::ostringstream out;
  for (auto& t : tables) {
    out << "## " << t << "\n";
    detail::statement s(db.get(), "SELECT * FROM \"" + t + "\" ORDER BY rowid");
    int n = sqlite3_column_count(s.get());
    while (s.step()) {
      for (int i = 0; i < n; ++i) out << (i ? "|" : "") << s.column_text(i);
      out << "\n";
    }
  }
  return out.str();
}

inline std::vector<char> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
inline void write_file(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Whether the file at `p` holds `s`, read a MiB at a time (for files too large to read whole).
inline bool file_contains(const fs::path& p, std::string_view s) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> buf(s.size() + (1u << 20));
  std::size_t kept = 0;  // the end of the previous chunk, which a match may straddle
  while (f) {
    f.read(buf.data() + kept, static_cast<std::streamsize>(buf.size() - kept));
    const std::size_t n = kept + static_cast<std::size_t>(f.gcount());
    if (std::search(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), s.begin(), s.end()) !=
        buf.begin() + static_cast<std::ptrdiff_t>(n))
      return true;
    kept = std::min(n, s.size() - 1);
    std::copy(buf.begin() + static_cast<std::ptrdiff_t>(n - kept), buf.begin() + static_cast<std::ptrdiff_t>(n),
              buf.begin());
  }
  return false;
}

/// A plain SQLite database as `sqlite3` makes it (no key, so no reserved bytes per page) with
/// the Hone tables, `marker` as the name of account 1, and a table `filler` of `pages` rows of
/// 4,000 characters that deflate to almost nothing: one row a page of 4 KiB.
inline void make_plain_image(const fs::path& p, std::string_view marker, int pages) {
  make_hone_db(p, database_key::none(), {.transactions = 200, .wal = false});
  auto c = open_rw(p, database_key::none());
  detail::exec(c.get(), "PRAGMA journal_mode = OFF");
  detail::exec(c.get(), "PRAGMA synchronous = OFF");
  detail::statement(c.get(), "UPDATE accounts SET name = ?1 WHERE id = 1").bind(1, marker).step();
  detail::exec(c.get(), "CREATE TABLE filler(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  detail::statement(c.get(),
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
                    "INSERT INTO filler(body) SELECT printf('%04000d', i) FROM n")
      .bind(1, std::int64_t{pages})
      .step();
}

/// What make_plain_image put in a database, as one line: equal lines, equal contents.
inline std::string plain_image_summary(const fs::path& p, const database_key& key) {
  auto db = detail::open_database(p, SQLITE_OPEN_READONLY, key);
  detail::statement s(db.get(),
                      "SELECT (SELECT name FROM accounts WHERE id = 1) || '|' || "
                      "(SELECT COUNT(*) FROM transactions) || '|' || COUNT(*) || '|' || SUM(LENGTH(body)) || "
                      "'|' || MIN(body) || '|' || MAX(body) || '|' || SUM(CAST(body AS INTEGER)) FROM filler");
  return s.step() ? s.column_text(0) : std::string();
}

/// Seals the file `plain` as `age -p` does after gzip (an age_compressor with a passphrase and a
/// low work factor) into the new file `out`, streaming.
inline void seal_as_age_p(const fs::path& plain, const fs::path& out, std::string_view passphrase) {
  age_compressor_options a;
  a.recipients.push_back(age::scrypt_recipient{std::string(passphrase), 10});
  fs::create_directories(out.parent_path());
  file_reader in(plain);
  file_writer w(out);
  age_compressor<>(a).compress(in, w, {});
  w.finish();
}

}  // namespace hone_test
