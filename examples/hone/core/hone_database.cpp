#include "core/hone_database.hpp"

#include "core/app.hpp"

#include <hone/backup.hpp>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone_app {

namespace fs = std::filesystem;

namespace {

/// fsync of a folder, so that a link made in it survives a crash.
void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int rc = fd < 0 ? -1 : ::fsync(fd);
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS)
    throw hb::io_error("Cannot sync the folder " + dir.string() + ": " + std::strerror(err));
}

/// mkdir for every missing folder of `dir`, owner-only (like the backup folder).
void make_private_dirs(const fs::path& dir) {
  std::error_code ec;
  if (dir.empty() || fs::is_directory(dir, ec)) return;
  make_private_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw hb::io_error("Cannot create the folder " + dir.string() + ": " + std::strerror(errno));
}

/// A prepared statement reused for many rows.
class insert_stmt {
 public:
  insert_stmt(hb::database& db, const char* sql) : s_(db.prepare(sql)) {}
  insert_stmt& text(int i, const std::string& v) {
    s_.bind(i, std::string_view(v));
    return *this;
  }
  insert_stmt& integer(int i, std::int64_t v) {
    s_.bind(i, v);
    return *this;
  }
  insert_stmt& real(int i, double v) {
    s_.bind(i, v);
    return *this;
  }
  insert_stmt& null(int i) {
    s_.bind_null(i);
    return *this;
  }
  void run() {
    s_.step();
    s_.reset();
  }

 private:
  hb::statement s_;
};

struct account_seed {
  const char* name;
  const char* bank;
  const char* type;
};
constexpr std::array<account_seed, 8> account_seeds{{
    {"Everyday Checking", "Chase", "checking"},
    {"Sapphire Preferred", "Chase", "credit"},
    {"High-Yield Savings", "Ally Bank", "savings"},
    {"Gold Card", "American Express", "credit"},
    {"Joint Checking", "Wells Fargo", "checking"},
    {"Freedom Unlimited", "Chase", "credit"},
    {"Brokerage Cash", "Fidelity", "investment"},
    {"Quicksilver", "Capital One", "credit"},
}};

struct merchant_seed {
  const char* description;  // as the bank prints it; '#' is replaced by digits
  const char* merchant;
  const char* category;
  double low, high;  // amount range (negative: money out)
  int weight;
};
constexpr std::array<merchant_seed, 18> merchant_seeds{{
    {"WHOLEFDS MKT #", "Whole Foods", "groceries", -180, -18, 10},
    {"TRADER JOE'S #", "Trader Joe's", "groceries", -120, -15, 10},
    {"SAFEWAY STORE #", "Safeway", "groceries", -140, -9, 8},
    {"STARBUCKS STORE #", "Starbucks", "dining", -14, -4, 12},
    {"CHIPOTLE #", "Chipotle", "dining", -32, -10, 6},
    {"DOORDASH*ORDER #", "DoorDash", "dining", -65, -18, 5},
    {"SHELL OIL #", "Shell", "transport", -75, -28, 6},
    {"UBER *TRIP #", "Uber", "transport", -48, -9, 5},
    {"AMAZON.COM*#", "Amazon", "shopping", -210, -6, 10},
    {"TARGET #", "Target", "shopping", -160, -8, 6},
    {"PG&E WEB ONLINE #", "PG&E", "utilities", -220, -60, 2},
    {"COMCAST CABLE #", "Comcast", "utilities", -110, -80, 2},
    {"CVS/PHARMACY #", "CVS", "health", -60, -5, 4},
    {"NETFLIX.COM #", "Netflix", "entertainment", -15.49, -15.49, 2},
    {"SPOTIFY USA #", "Spotify", "entertainment", -11.99, -11.99, 2},
    {"VENMO PAYMENT #", "Venmo", "transfer", -150, -10, 3},
    {"PAYROLL ACME CORP #", "Acme Corp", "income", 2400, 3600, 3},
    {"INTEREST PAYMENT #", "Ally Bank", "income", 2, 40, 1},
}};

struct subscription_seed {
  const char* merchant;
  double amount;
  const char* frequency;
};
constexpr std::array<subscription_seed, 10> subscription_seeds{{
    {"Netflix", 15.49, "monthly"},
    {"Spotify", 11.99, "monthly"},
    {"iCloud+", 2.99, "monthly"},
    {"New York Times", 17.00, "monthly"},
    {"Planet Fitness", 24.99, "monthly"},
    {"Adobe Creative Cloud", 54.99, "monthly"},
    {"Disney+", 13.99, "monthly"},
    {"Amazon Prime", 139.00, "yearly"},
    {"Hulu", 17.99, "monthly"},
    {"YouTube Premium", 13.99, "monthly"},
}};

std::string with_digits(const char* pattern, std::mt19937& rng) {
  std::string s;
  for (const char* p = pattern; *p; ++p) {
    if (*p == '#')
      s += std::to_string(100 + rng() % 9900);
    else
      s += *p;
  }
  return s;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// The tables and indexes of the original Hone database.
void create_schema(hb::database& db) {
  db.exec(R"(CREATE TABLE accounts (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      bank TEXT NOT NULL,
      account_type TEXT,
      entity_id INTEGER,
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP))");
  db.exec(R"(CREATE TABLE transactions (
      id INTEGER PRIMARY KEY,
      account_id INTEGER REFERENCES accounts(id),
      date DATE NOT NULL,
      description TEXT NOT NULL,
      amount REAL NOT NULL,
      category TEXT,
      merchant_normalized TEXT,
      import_hash TEXT UNIQUE,
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP))");
  db.exec(R"(CREATE TABLE subscriptions (
      id INTEGER PRIMARY KEY,
      merchant TEXT NOT NULL,
      account_id INTEGER,
      amount REAL,
      frequency TEXT,
      first_seen DATE,
      last_seen DATE,
      status TEXT DEFAULT 'active'))");
  db.exec("CREATE INDEX idx_transactions_account ON transactions(account_id)");
  db.exec("CREATE INDEX idx_transactions_date ON transactions(date)");
}

void insert_accounts(hb::database& db, const demo_spec& spec) {
  insert_stmt ins(db, "INSERT INTO accounts(name, bank, account_type) VALUES (?1, ?2, ?3)");
  for (int i = 0; i < spec.accounts; ++i) {
    const auto& a = account_seeds[static_cast<std::size_t>(i) % account_seeds.size()];
    std::string name = a.name;
    if (i >= static_cast<int>(account_seeds.size())) name += " " + std::to_string(i / account_seeds.size() + 1);
    ins.text(1, name).text(2, a.bank).text(3, a.type).run();
  }
}

void insert_transactions(hb::database& db, const demo_spec& spec, std::mt19937& rng) {
  int total_weight = 0;
  for (const auto& m : merchant_seeds) total_weight += m.weight;
  insert_stmt ins(
      db,
      "INSERT INTO transactions(account_id, date, description, amount, category, "
      "merchant_normalized, import_hash) VALUES (?1, date('now', '-' || ?2 || ' days'), ?3, ?4, ?5, ?6, ?7)");
  for (int i = 0; i < spec.transactions; ++i) {
    int pick = static_cast<int>(rng() % static_cast<unsigned>(total_weight));
    const merchant_seed* m = &merchant_seeds.front();
    for (const auto& s : merchant_seeds) {
      if (pick < s.weight) {
        m = &s;
        break;
      }
      pick -= s.weight;
    }
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const double amount = std::round((m->low + (m->high - m->low) * u) * 100.0) / 100.0;
    // Newest rows last, spread over the past year.
    const std::int64_t days_ago =
        spec.transactions <= 1
            ? 0
            : static_cast<std::int64_t>(365LL * (spec.transactions - 1 - i) / (spec.transactions - 1));
    const std::string description = with_digits(m->description, rng);
    if (spec.accounts > 0)
      ins.integer(1, 1 + static_cast<std::int64_t>(rng() % static_cast<unsigned>(spec.accounts)));
    else
      ins.null(1);
    ins.integer(2, days_ago)
        .text(3, description)
        .real(4, amount)
        .text(5, m->category)
        .text(6, m->merchant)
        .text(7, hex64(fnv1a(description + "|" + std::to_string(amount) + "|" + std::to_string(i))) + "-" +
                     std::to_string(i))
        .run();
  }
}

void insert_subscriptions(hb::database& db, const demo_spec& spec) {
  insert_stmt ins(db,
                  "INSERT INTO subscriptions(merchant, account_id, amount, frequency, first_seen, last_seen, status) "
                  "VALUES (?1, ?2, ?3, ?4, date('now', '-' || ?5 || ' days'), date('now', '-' || ?6 || ' days'), ?7)");
  auto add = [&](const std::string& merchant, double amount, const char* freq, const char* status, int i) {
    if (spec.accounts > 0)
      ins.integer(2, 1 + i % spec.accounts);
    else
      ins.null(2);
    ins.text(1, merchant)
        .real(3, amount)
        .text(4, freq)
        .integer(5, 300 + i % 60)
        .integer(6, i % 28)
        .text(7, status)
        .run();
  };
  for (int i = 0; i < spec.subscriptions; ++i) {
    const auto& s = subscription_seeds[static_cast<std::size_t>(i) % subscription_seeds.size()];
    std::string merchant = s.merchant;
    if (i >= static_cast<int>(subscription_seeds.size()))
      merchant += " " + std::to_string(i / subscription_seeds.size() + 1);
    add(merchant, s.amount, s.frequency, "active", i);
  }
  if (spec.subscriptions > 0) add("Peacock", 7.99, "monthly", "cancelled", spec.subscriptions);
}

void fill(hb::database& db, const demo_spec& spec) {
  create_schema(db);
  std::mt19937 rng(20240115);  // the same demo data every time (dates are relative to today)
  hb::transaction tx(db);
  insert_accounts(db, spec);
  insert_transactions(db, spec, rng);
  insert_subscriptions(db, spec);
  tx.commit();
}

}  // namespace

std::vector<hb::count_query> hone_count_queries() {
  return {{"accounts", "SELECT COUNT(*) FROM accounts"},
          {"transactions", "SELECT COUNT(*) FROM transactions"},
          {"subscriptions", "SELECT COUNT(*) FROM subscriptions WHERE status = 'active'"}};
}

hb::database open_live_database(const fs::path& database, const hb::database_key& key) {
  try {
    return hb::database::open(database, key);
  } catch (const hb::error& e) {
    if (e.code() != hb::errc::encryption) throw;
    throw hb::encryption_error("Cannot open " + database.string() +
                               ": HONE_DB_KEY does not match the database's key (or the file is not a database)");
  }
}

database_check check_database(const fs::path& database, const hb::database_key& key) {
  try {
    open_live_database(database, key);
    return {};
  } catch (const hb::error& e) {
    const bool key_problem = e.code() == hb::errc::encryption || e.code() == hb::errc::key_required;
    return {key_problem ? "key" : "database", program_message(e), e.code()};
  }
}

dashboard read_dashboard(const fs::path& database, const hb::database_key& key) {
  auto db = open_live_database(database, key);
  dashboard d;
  d.encrypted = db.encrypted();
  std::error_code ec;
  d.size = fs::file_size(database, ec);
  d.counts = db.count(hone_count_queries());  // one snapshot for the three counts
  return d;
}

void create_demo_database(const fs::path& database, const hb::database_key& key, const demo_spec& spec) {
  std::error_code ec;
  auto exists = [&](const fs::path& p) { return fs::symlink_status(p, ec).type() != fs::file_type::not_found; };
  if (exists(database))
    throw hb::database_exists_error("Database already exists: " + database.string() +
                                    " (demo-db never overwrites a database; choose another --db)");
  const fs::path dir = database.parent_path();
  make_private_dirs(dir);

  std::string tmpl = (dir / ("." + database.filename().string() + ".demo-XXXXXX")).string();
  const int fd = create_registered_temp_file(tmpl, {"-wal", "-shm", "-journal"});
  if (fd < 0) throw hb::io_error("Cannot create a file in " + dir.string() + ": " + std::strerror(errno));
  ::close(fd);
  struct cleanup {
    std::string p;
    ~cleanup() {
      for (const char* sfx : {"", "-wal", "-shm", "-journal"}) {
        ::unlink((p + sfx).c_str());
        unregister_temp_file(p + sfx);
      }
    }
  } remove_temp{tmpl};

  {
    auto db = hb::database::open(tmpl, key, hb::open_mode::create);
    // SQLCipher 4 defaults are left as they are (page size 4096, PBKDF2-HMAC-SHA512 256000,
    // HMAC-SHA512): that is what the original uses. Then the original's connection settings.
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    fill(db, spec);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }  // closing the last connection checkpoints and removes the -wal and -shm files

  int tfd = ::open(tmpl.c_str(), O_RDONLY | O_CLOEXEC);
  if (tfd >= 0) {
    ::fsync(tfd);
    ::close(tfd);
  }
  // link() fails with EEXIST atomically: a database that appeared meanwhile is not replaced.
  if (::link(tmpl.c_str(), database.c_str()) != 0) {
    if (errno == EEXIST)
      throw hb::database_exists_error("Database already exists: " + database.string() +
                                      " (demo-db never overwrites a database; choose another --db)");
    throw hb::io_error("Cannot create " + database.string() + ": " + std::strerror(errno));
  }
  sync_folder(dir);
}

}  // namespace hone_app
