// reliability-probe: what the reliability tests need to know about a database file, and a way
// to leave committed transactions in a database's WAL. The key is HONE_DB_KEY (the `hone`
// program's passphrase, Argon2id-derived); a plain file is opened without a key.
//
//   reliability-probe check DB...        one JSON object per line and database:
//       {"path": ..., "opens": bool, "integrity": "ok" or the problems, "transactions": N,
//        "accounts": N, "digest": "<hex of every row of every table and the schema>",
//        "error": "..."}
//   reliability-probe commit-wal DB N    inserts N transactions (one committed transaction) with
//       wal_autocheckpoint off, then exits without closing: the rows stay in DB-wal only.
#include <hone/backup.hpp>
#include <hone/backup/hone_key.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <unistd.h>

namespace {

namespace hb = hone::backup;
namespace detail = hone::backup::detail;

hb::database_key key_from_env() {
  const char* pass = std::getenv("HONE_DB_KEY");
  return (pass && *pass) ? hb::hone_key(pass) : hb::database_key::none();
}

/// FNV-1a, 64 bits: enough to tell two databases' contents apart in a test.
struct digest {
  std::uint64_t h = 14695981039346656037ull;
  void add(const void* p, std::size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void add(const std::string& s) {
    const std::uint64_t n = s.size();
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

std::string rows(sqlite3* db, const std::string& sql) {
  detail::statement s(db, sql);
  std::string out;
  while (s.step()) out += (out.empty() ? "" : "; ") + s.column_text(0);
  return out;
}

std::optional<std::int64_t> count(sqlite3* db, const char* table) {
  return detail::optional_count(db, std::string("SELECT COUNT(*) FROM ") + table);
}

/// Every table's rows in rowid order, each value with its type, and the schema.
std::string content_digest(sqlite3* db) {
  digest d;
  std::vector<std::string> tables;
  {
    detail::statement s(db, "SELECT name, sql FROM sqlite_master ORDER BY type, name");
    while (s.step()) {
      d.add(s.column_text(0));
      d.add(s.column_text(1));
    }
  }
  {
    detail::statement s(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    while (s.step()) tables.push_back(s.column_text(0));
  }
  for (const auto& t : tables) {
    std::string quoted = "\"";
    for (char c : t) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    quoted += "\"";
    detail::statement s(db, "SELECT * FROM " + quoted + " ORDER BY rowid");
    const int n = sqlite3_column_count(s.get());
    while (s.step()) {
      for (int i = 0; i < n; ++i) {
        const int type = sqlite3_column_type(s.get(), i);
        d.add(&type, sizeof type);
        d.add(s.column_text(i));
      }
    }
  }
  return d.hex();
}

nlohmann::json check(const std::string& path, const hb::database_key& key) {
  nlohmann::json j{{"path", path},        {"opens", false},    {"integrity", nullptr}, {"transactions", nullptr},
                   {"accounts", nullptr}, {"digest", nullptr}, {"error", nullptr}};
  try {
    const auto kind = detail::classify_database_file(path);
    j["encrypted"] = kind == detail::database_kind::encrypted;
    static const hb::database_key none;
    const hb::database_key& k = kind == detail::database_kind::plain ? none : key;
    auto opened = detail::open_and_probe(path, SQLITE_OPEN_READWRITE, k, 10000);
    sqlite3* db = opened.db.get();
    j["opens"] = true;
    j["integrity"] = rows(db, "PRAGMA integrity_check");
    detail::exec(db, "BEGIN");
    if (auto n = count(db, "transactions")) j["transactions"] = *n;
    if (auto n = count(db, "accounts")) j["accounts"] = *n;
    j["digest"] = content_digest(db);
    detail::exec(db, "COMMIT");
  } catch (const std::exception& e) {
    j["error"] = e.what();
  }
  return j;
}

int commit_wal(const std::string& path, long n) {
  auto db = detail::open_database(path, SQLITE_OPEN_READWRITE, key_from_env());
  sqlite3* h = db.get();
  detail::exec(h, "PRAGMA wal_autocheckpoint = 0");
  if (rows(h, "PRAGMA journal_mode") != "wal") {
    std::fprintf(stderr, "reliability-probe: %s is not in WAL mode\n", path.c_str());
    return 1;
  }
  detail::exec(h, "BEGIN");
  for (long i = 0; i < n; ++i) {
    detail::statement s(h,
                        "INSERT INTO transactions(account_id, date, description, amount, category) "
                        "VALUES (1, '2025-01-01', ?1, ?2, 'wal')");
    s.bind(1, "LATE ROW " + std::to_string(i)).bind(2, std::int64_t(-(i + 1)));
    s.step();
  }
  detail::exec(h, "COMMIT");
  std::fflush(nullptr);
  ::_exit(0);  // as a killed application would: no close, no checkpoint
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "check" && argc > 2) {
      const auto key = key_from_env();
      for (int i = 2; i < argc; ++i) std::cout << check(argv[i], key).dump() << "\n";
      return 0;
    }
    if (cmd == "commit-wal" && argc == 4) return commit_wal(argv[2], std::strtol(argv[3], nullptr, 10));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reliability-probe: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: reliability-probe check DB... | commit-wal DB N\n");
  return 2;
}
